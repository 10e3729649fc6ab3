"""Studies: sweeps over configs that train many runs and tabulate what they reach."""
