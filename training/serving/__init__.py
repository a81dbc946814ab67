"""Serving: the OpenAI-compatible CPU server, the vLLM command line, the local model server."""
