"""Orchestration: out-of-process jobs, the model registry, retraining from the arena and its policy."""
