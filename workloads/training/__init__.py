"""Training: typed config, deterministic trainer (plain PyTorch or DeepSpeed), checkpoints."""
