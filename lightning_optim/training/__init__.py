"""Layer 6: the mixin and what it installs on the Trainer: manual-optimization stepping and the resume guard.

Internal: import the public names from ``lightning_optim`` (its ``__all__``); this module may be renamed.
"""
