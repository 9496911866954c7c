"""Training: options, LR schedule, checkpoints, distributed set-up and the loop (stages 2 and 3)."""
