"""The WAE families' encoder options (:mod:`aesweep.config.wae_encoder`): noise on the
encoder's inputs while training and the moment-matching pretraining of the encoder, as the WAE
authors' code has them (tolstikhin/wae: ``encoder`` in ``models.py``; ``pretrain_loss`` and
``pretrain_encoder`` in ``wae.py``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import torch
from torch import nn

from aesweep.config.wae_encoder import EncoderPretraining, WithWAEEncoder
from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel, Draws

log = logging.getLogger(__name__)

TRUNCATION = 2.0
"""TensorFlow's ``truncated_normal`` redraws values beyond 2 standard deviations."""

MakeOptimizer = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def truncated_noise_like(
    x: torch.Tensor, std: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Noise of ``x``'s shape: N(0, std²) with values beyond ±2 std redrawn (TF's
    ``truncated_normal(shape, 0.0, std)``), from ``generator`` (default torch's global)."""
    noise = torch.empty_like(x)
    bound = TRUNCATION * std
    return nn.init.trunc_normal_(noise, mean=0.0, std=std, a=-bound, b=bound, generator=generator)


def moment_matching_loss(latents: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """mean_j (m_Q - m_P)_j² + mean_jk (C_Q - C_P)_jk²: the squared differences of the sample
    means and of the sample covariances (divided by n - 1), each averaged over its entries
    (``tf.reduce_mean`` in the WAE code's ``pretrain_loss``)."""

    def moments(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = s.mean(dim=0, keepdim=True)
        centred = s - mean
        return mean, centred.T @ centred / (len(s) - 1)

    mean_q, cov_q = moments(latents)
    mean_p, cov_p = moments(prior)
    return (mean_q - mean_p).square().mean() + (cov_q - cov_p).square().mean()


class WAEEncoderModel(AutoencoderModel):
    """An autoencoder family with the WAE code's encoder options (WAE-MMD, WAE-GAN)."""

    @property
    def encoder_options(self) -> WithWAEEncoder:
        """The family config's ``e_pretrain`` and ``e_add_noise``."""
        options = self.cfg
        if not isinstance(options, WithWAEEncoder):
            raise TypeError(f"{self.cfg.family} has no WAE encoder options")
        return options

    def step_draws(
        self,
        rows: int,
        steps: int,
        generator: torch.Generator | None,
        device: torch.device,
        *,
        images: tuple[int, ...] = (),
    ) -> Draws:
        """With ``e_add_noise``: the noise on each step's images, ``input_noise`` (steps,
        *images), drawn on the generator's device first."""
        std = self.encoder_options.e_add_noise
        if std <= 0 or not images:
            return {}
        where = device if generator is None else generator.device
        like = torch.empty(steps, *images, device=where, dtype=next(self.parameters()).dtype)
        return {"input_noise": truncated_noise_like(like, std, generator).to(device)}

    def encoder_input(self, x: torch.Tensor, draws: Draws) -> torch.Tensor:
        noise = draws.get("input_noise")
        return x if noise is None else x + noise.to(x.dtype)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent of ``x``; in training mode with ``e_add_noise`` of ``x`` plus truncated
        normal noise (the WAE code adds it only while ``is_training``)."""
        std = self.encoder_options.e_add_noise
        if self.training and std > 0:
            x = x + truncated_noise_like(x, std)
        return super().encode(x)

    def pretrain_encoder(self, train: TrainSplit, make_optimizer: MakeOptimizer) -> list[float]:
        """The encoder's moment-matching pretraining when ``e_pretrain`` is set (module
        :mod:`aesweep.config.wae_encoder`); returns each step's loss (empty when off)."""
        cfg = self.encoder_options.e_pretrain
        if cfg is None:
            return []
        return pretrain_encoder(self, train, cfg, make_optimizer(self.net.encoder.parameters()))


def pretrain_encoder(
    model: AutoencoderModel,
    train: TrainSplit,
    cfg: EncoderPretraining,
    optimizer: torch.optim.Optimizer,
) -> list[float]:
    """Up to ``cfg.steps`` steps of ``optimizer`` (over the encoder's parameters) on
    :func:`moment_matching_loss` between the latents of ``cfg.sample_size`` training images,
    drawn without replacement each step, and as many prior draws; stops after the first step
    whose loss is below ``cfg.stop_below``. Draws use torch's global generator."""
    model.train()
    n = min(len(train), cfg.sample_size)
    device = model.param_device()
    losses: list[float] = []
    for _ in range(cfg.steps):
        ix = torch.randperm(len(train))[:n]
        x = train[ix.to(train.device)].to(device)
        loss = moment_matching_loss(model.encode(x), model.sample_prior(n))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if losses[-1] < cfg.stop_below:
            break
    log.info("encoder pretraining: %d steps, loss %.4g -> %.4g", len(losses), losses[0], losses[-1])
    optimizer.zero_grad(set_to_none=True)
    return losses
