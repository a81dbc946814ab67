"""Dataset curation, export, training and serving. The only package that may import torch/trl/peft."""
