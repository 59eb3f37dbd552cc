"""The names of the metrics trials log (README "Metrics"), in one torch-free place: evaluation
code imports them from here, and ``plan`` checks ``selection.metric`` against what a planned
trial will log (:meth:`aesweep.config.trial.TrialConfig.logged_metrics`) before anything runs.
"""

from __future__ import annotations

TRAIN_PREFIX = "train_"
"""Per-epoch means of a training step's parts (``train_loss``, ``train_rec``, ...)."""
LATENT_TRICK_PREFIX = "lt_"
"""The Latent Trick's stage 2 and its sampler D(G(ε))."""
OWN_SAMPLER_PREFIX = "gen_"
"""The trial's own sampler: the Latent Trick's with it, the prior's without."""

AUTOENCODER_METRICS = ("rec_error", "wae_distance", "sw_distance", "latent_isotropy")
"""What every autoencoder evaluation logs, whatever its latent dimension (latent_isotropy:
MoCA's Figure 5 as one number, the effective rank of the test latents' singular values / d)."""
CW_DISTANCE = "cw_distance"
"""Logged where the closed-form Cramér-Wold distance exists (latent_dim 1, 2 or >= 8)."""
COST = "cost"
"""rec_error + log(the family's cost metric), where that metric is logged."""
SAMPLER_METRICS = ("sample_cw",)
"""What every sampler evaluation measures (prefixed ``lt_`` for the Latent Trick's)."""
OPTIONAL_SAMPLER_METRICS = ("fid",)
"""What it measures when the spec asks (``evaluation.fid``)."""
SAMPLER_TIMINGS = ("sample_seconds",)
FID_TIMINGS = ("fid_seconds",)
LATENT_TRICK_METRICS = ("train_loss", "epoch_seconds", "cw_distance")
"""Stage 2's per-epoch metrics (prefixed ``lt_``)."""
EPOCH_TIMINGS = ("epoch_seconds", "eval_seconds")
LEARNING_RATE = "lr"
"""Logged when the rate changes over the epochs (a schedule, or the generator's annealing)."""
GENERATOR_METRICS = ("w1_to_target",)
MIXTURE_METRICS = ("modes_recovered",)
"""The generator on the 1-D Gaussian mixture: how many of its components it covers (RSR Fig. 1)."""
"""The data-space generator's evaluation."""
