"""WAE-MMD: rec + λ MMD with the inverse multiquadratics kernel (WAE paper, Algorithm 2)."""
