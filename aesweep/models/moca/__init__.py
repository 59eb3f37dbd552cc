"""MoCA: rec + λ L_MoCo, a contrastive latent regulariser on the unit sphere (MoCA paper)."""
