"""Shared ground for every idiolect package: settings, storage, schemas, embeddings, vectors."""

from core.privacy import disable_telemetry

# Importing core is the first thing every entry point does, so this is the one place that
# can switch telemetry off before gradio, chromadb, deepeval or huggingface_hub load.
disable_telemetry()
