"""Layer 1, pure torch: learning-rate schedules of this package as ``LRScheduler`` classes built on small pure functions of the step."""
