"""Learning-rate schedulers as plain ``torch.optim.lr_scheduler.LRScheduler`` classes (stdlib + torch only)."""
