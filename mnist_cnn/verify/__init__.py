"""Independent checks of the derivations: centred finite differences and exact sympy."""
