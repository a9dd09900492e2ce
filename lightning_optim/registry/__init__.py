"""Layer 2: one record per optimizer and per scheduler (names, defaults, lengths, units, kernels), and looking names up.

Internal: import the public names from ``lightning_optim`` (its ``__all__``); this module may be renamed.
"""
