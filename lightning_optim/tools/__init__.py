"""Layer 8: tools on top of everything: preview, plot, describe, config dicts, declaration overrides and the preview command line."""
