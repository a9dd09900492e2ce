"""Layer 0, imports nothing of this package: the error voice, type checks against signatures, the logged-key scheme, lazy parameters (``lazy``), every process's numbers gathered (``processes``), and every private torch/Lightning API (``compat``).

Internal: import the public names from ``lightning_optim`` (its ``__all__``); this module may be renamed.
"""
