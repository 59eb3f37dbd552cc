"""SWAE: rec + λ SW²(Z, P), the sliced Wasserstein distance to a prior sample (MoW; SWAE)."""
