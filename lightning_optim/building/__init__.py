"""Layer 5: turning checked declarations into live optimizers and schedulers when ``fit`` starts, with lengths from the run."""
