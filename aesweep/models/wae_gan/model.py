"""WAE-GAN (WAE paper, Algorithm 1; REFERENCE: Models), with the authors' non-saturating loss.

    encoder, decoder:  rec(x, x̂) + λ mean_i softplus(-D(z_i))               (= rec - λ log σ(D(z)))
    discriminator:     λ [mean_i softplus(-D(p_i)) + mean_i softplus(D(z_i))]  (minimised)

D outputs one logit (with ``prior_trick``: plus the Gaussian prior's log-density, as the
authors' ``z_adversary`` adds it; :func:`prior_trick_term`). The order is the authors'
``wae.py`` (tolstikhin/wae, ``WAE.train``: one ``ae_opt`` step, then one ``adv_opt`` step whose
graph encodes the same batch again with the updated encoder), not Algorithm 1's listing (D
first): the autoencoder's step comes first (the strategy's optimiser, which steps
:meth:`autoencoder_parameters` only); then :meth:`after_step` re-encodes the batch with the
updated encoder, E_after(x) (no gradient; batch-norm running statistics are not updated a
second time), and takes one step of D's own Adam on those latents against a fresh prior
sample of the same size. D's optimiser state is checkpointed through
:meth:`extra_state_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aesweep.models.base import Draws, LatentSet
from aesweep.models.initialisation import initialise
from aesweep.models.wae_encoder import WAEEncoderModel
from aesweep.models.wae_gan.config import DiscriminatorConfig, WAEGANConfig


def prior_trick_term(z: torch.Tensor, scale: float) -> torch.Tensor:
    """What the prior trick adds to D's logit for each row of ``z``, as the WAE authors'
    ``z_adversary`` (tolstikhin/wae ``models.py``, ``gan_p_trick``) computes it:

        -||z||² / (2 σ²) - ½ log(2π) - ½ d log σ²

    the log-density of N(0, σ² I_d) except that ½ log(2π) is subtracted once, not d times (a
    constant shift of the logit: the authors' code, kept as it is)."""
    sigma2 = scale**2
    d = z.shape[1]
    return (
        -z.pow(2).sum(1) / (2 * sigma2) - 0.5 * math.log(2 * math.pi) - 0.5 * d * math.log(sigma2)
    )


class LatentDiscriminator(nn.Module):
    """``layers`` fully connected ReLU layers of ``width``, then one logit; with
    ``prior_scale`` (the prior trick, σ of the Gaussian prior) the logit gets
    :func:`prior_trick_term` added, so the network learns only the rest of the optimal
    log p(z) - log q(z) (the AVB paper's idea, as the WAE authors' comment says)."""

    def __init__(
        self, cfg: DiscriminatorConfig, latent_dim: int, *, prior_scale: float | None = None
    ) -> None:
        super().__init__()
        self.prior_scale = prior_scale
        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.width), nn.ReLU()]
            width = cfg.width
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        logit = self.net(z).squeeze(1)
        if self.prior_scale is None:
            return logit
        return logit + prior_trick_term(z, self.prior_scale)


def discriminator_loss(logits_prior: torch.Tensor, logits_latent: torch.Tensor) -> torch.Tensor:
    """-[mean log D(P) + mean log(1 - D(Z))], D = sigmoid(logit)."""
    return F.softplus(-logits_prior).mean() + F.softplus(logits_latent).mean()


def discriminator_accuracy(logits_prior: torch.Tensor, logits_latent: torch.Tensor) -> torch.Tensor:
    """Share of prior samples called real and latents called fake (classes weighed equally)."""
    return ((logits_prior > 0).float().mean() + (logits_latent < 0).float().mean()) / 2


class WAEGAN(WAEEncoderModel):
    cfg: WAEGANConfig

    def __init__(self, cfg: WAEGANConfig, sample_shape: tuple[int, ...], *, is_image: bool) -> None:
        super().__init__(cfg, sample_shape, is_image=is_image)
        d = cfg.discriminator
        # The spec's init too: the WAE code builds D from the same layers as the autoencoder.
        scale = self.prior.scale if cfg.prior_trick else None  # a Gaussian (validated)
        self.discriminator = LatentDiscriminator(d, cfg.latent_dim, prior_scale=scale)
        initialise(self.discriminator, cfg.init)
        # Module.to() moves parameters in place, so this optimiser follows the model's device.
        self.discriminator_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=d.lr, betas=d.betas
        )

    def autoencoder_parameters(self) -> Iterator[nn.Parameter]:
        return self.net.parameters()

    def latent_loss(self, z_set: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        """-mean log D(z): the non-saturating adversarial penalty of the encoder."""
        return F.softplus(-self.discriminator(z_set)).mean()

    def set_loss(self, latents: LatentSet, draws: Draws | None = None) -> torch.Tensor:
        """A per-sample penalty: stored rows (no gradient) would only shift its value."""
        return self.latent_loss(latents.fresh)

    def after_step(
        self,
        x: torch.Tensor,
        z: torch.Tensor | None,
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """One step of D on E_after(x), the batch re-encoded after the autoencoder's step (the
        authors' ``wae.py``; ``z``, the latents from before it, is not used), against a prior
        sample of the same size (from ``generator``)."""
        z = self.reencode(x)
        prior = self.sample_prior(len(z), device=z.device, generator=generator).to(z.dtype)
        logits_prior, logits_latent = self.discriminator(prior), self.discriminator(z)
        loss = self.cfg.lambda_ * discriminator_loss(logits_prior, logits_latent)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.discriminator_optimizer.step()
        return {
            "disc_loss": loss.detach(),
            "disc_acc": discriminator_accuracy(logits_prior, logits_latent).detach(),
        }

    @torch.no_grad()
    def reencode(self, x: torch.Tensor) -> torch.Tensor:
        """E(x) in the current mode, leaving batch-norm running statistics as they are (the
        autoencoder's step already counted this batch)."""
        norms = [m for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [[b.clone() for b in m.buffers(recurse=False)] for m in norms]
        try:
            return self.encode(x).detach()
        finally:
            for m, buffers in zip(norms, saved, strict=True):
                for b, kept in zip(m.buffers(recurse=False), buffers, strict=True):
                    b.copy_(kept)

    def extra_state_dict(self) -> dict[str, Any]:
        return {
            "discriminator": self.discriminator.state_dict(),
            "discriminator_optimizer": self.discriminator_optimizer.state_dict(),
        }

    def load_extra_state_dict(self, state: dict[str, Any]) -> None:
        if "discriminator" in state:
            self.discriminator.load_state_dict(state["discriminator"])
        if "discriminator_optimizer" in state:
            self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])

    def scale_extra_lr(self, factor: float) -> None:
        for group in self.discriminator_optimizer.param_groups:
            group["lr"] = self.cfg.discriminator.lr * factor
