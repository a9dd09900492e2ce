"""Optimizer classes of this package (pure torch)."""
