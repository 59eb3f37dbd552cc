"""AE: a plain autoencoder, reconstruction only (the LCW paper's baseline)."""
