"""Layer 7: ``LRMonitor``, logging the lr of every param group of every optimizer.

Internal: import the public names from ``lightning_optim`` (its ``__all__``); this module may be renamed.
"""
