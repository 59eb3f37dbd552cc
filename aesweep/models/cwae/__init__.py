"""CWAE: rec + λ log cw(Z), the Cramér-Wold distance to N(0, I) in closed form (CWAE paper)."""
