"""The CLI and the Gradio app: the only layer that builds real clients and wires features."""
