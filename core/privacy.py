"""Privacy defaults: third-party telemetry off, and the egress policy for LLM endpoints."""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlparse

from core.errors import EgressRefused

# Every library in the stack phones home unless told not to (stack-notes §4). These are
# forced, not defaulted: zero unexpected egress is a product promise, so a stray shell
# variable must not turn telemetry back on.
TELEMETRY_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
    "DEEPEVAL_DISABLE_DOTENV": "1",
    "DEEPEVAL_UPDATE_WARNING_OPT_IN": "0",
    "ANONYMIZED_TELEMETRY": "False",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


# Not telemetry: Gradio's in-process queue analytics rebuild a pandas summary of up to
# 10,000 past events after every event (13-15 ms of CPU each, measured), the largest part
# of an arena vote's server time under load. Defaulted, not forced: recomputed every 500.
GRADIO_QUEUE_ENV: dict[str, str] = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "500"}


def disable_telemetry() -> None:
    """Switch off the telemetry of every dependency; call before importing them."""
    os.environ.update(TELEMETRY_ENV)
    for key, value in GRADIO_QUEUE_ENV.items():
        os.environ.setdefault(key, value)


def is_local_host(host: str) -> bool:
    """Return True when `host` is this machine or an address on the owner's private network."""
    if not host:
        return False
    if host in {"localhost", "localhost.localdomain"} or host.endswith(".local"):
        return True
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:
            addr = ipaddress.ip_address(socket.gethostbyname(host))
        except OSError:
            return False
    return addr.is_loopback or addr.is_private or addr.is_link_local


def check_endpoint(url: str, *, local_only: bool) -> None:
    """Refuse `url` when `local_only` is set and it points outside the owner's machines."""
    if not local_only:
        return
    host = urlparse(url).hostname or ""
    if not is_local_host(host):
        raise EgressRefused(
            f"local_only is set, so idiolect will not send data to {url!r}; "
            "point it at an endpoint on this machine or your own network, or unset local_only"
        )


def private_upload_dir(path: os.PathLike[str] | str) -> None:
    """Point Gradio's upload cache inside the owner-only data dir (uploads hold unscrubbed text)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = os.fspath(path)
