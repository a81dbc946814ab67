"""Plain operations the command line (ui/commands) and the app (ui/tabs) both call.

No gradio, typer or rich here: an operation takes the Services (or the store and settings)
and plain values, returns plain data, and reports progress through a callback its caller may
pass. import-linter enforces this, and that ui/commands and ui/tabs never import each other.
"""
