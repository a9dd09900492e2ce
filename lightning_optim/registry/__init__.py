"""Layer 2: one record per optimizer and per scheduler (names, defaults, lengths, units, kernels), and looking names up."""
