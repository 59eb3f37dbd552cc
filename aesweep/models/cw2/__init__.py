"""CW²: log cw(X̂, X; γ) + λ log cw(Z), the Cramér-Wold distance used twice (LCW paper, stage 1)."""
