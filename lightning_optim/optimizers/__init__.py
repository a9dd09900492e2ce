"""Optimizer classes of this package (pure torch)."""

from lightning_optim.optimizers.muon_adamw import MuonWithAdamW, is_matrix

__all__ = ["MuonWithAdamW", "is_matrix"]
