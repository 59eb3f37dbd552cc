"""WAE-GAN: rec + λ adversarial latent penalty from a latent discriminator (WAE, Algorithm 1)."""
