"""Training proper (SFT, DPO, LoRA, presets, reasoning formats), with dataset/, serving/ and runs/ beside it.

The only package that may import torch/trl/peft.
"""
