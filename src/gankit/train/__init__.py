"""Training: the builder, the loss object with phases, the Trainer and its loop, hooks and their context,
checkpoints, EMA, optimizers, DiffAugment and the torchrun helpers. See docs/architecture.md.

Nothing is imported here, so ``import gankit.train.checkpoint`` loads only what it needs.
"""
