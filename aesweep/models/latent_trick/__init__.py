"""The Latent Trick (LCW paper, "Latent Trick"): stage 2, a latent generator G: N(0, I) -> Z
trained on the latents of a frozen autoencoder, so that D(G(ε)) samples the data."""
