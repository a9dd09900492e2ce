"""Layer 4: what a user writes (``OptimizerSpec``, ``SchedulerSpec``, ``ParamGroup``, their options) and the checks run when a module class is defined.

Internal: import the public names from ``lightning_optim`` (its ``__all__``); this module may be renamed.
"""
