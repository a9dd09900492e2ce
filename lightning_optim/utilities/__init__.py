"""Layer 0, imports nothing of this package: the error voice, type checks against signatures, the logged-key scheme, and every private torch/Lightning API (``compat``)."""
