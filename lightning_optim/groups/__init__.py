"""Layer 3: how parameters are selected and split into param groups: selectors and the param-group recipes."""
