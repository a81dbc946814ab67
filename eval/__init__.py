"""Evaluation: arena statistics and pairing, voice-fidelity metrics, judges, reports."""
