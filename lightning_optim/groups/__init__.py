"""Layer 3: how parameters are selected and split into param groups: selectors and the param-group recipes.

Internal: import the public names from ``lightning_optim`` (its ``__all__``); this module may be renamed.
"""
