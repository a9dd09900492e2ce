"""Layer 6: the mixin and what it installs on the Trainer: manual-optimization stepping and the resume guard."""
