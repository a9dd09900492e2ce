"""Layer 5: turning checked declarations into live optimizers and schedulers when ``fit`` starts, with lengths from the run.

Internal: import the public names from ``lightning_optim`` (its ``__all__``); this module may be renamed.
"""
