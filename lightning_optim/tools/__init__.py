"""Layer 8: tools on top of everything: preview, plot, describe, config dicts, declaration overrides and the preview command line.

Internal: import the public names from ``lightning_optim`` (its ``__all__``); this module may be renamed.
"""
