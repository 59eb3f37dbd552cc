"""WAE-GAN (WAE paper, Algorithm 1; REFERENCE: Models), with the authors' non-saturating loss.

    encoder, decoder:  rec(x, x̂) + λ mean_i softplus(-D(z_i))               (= rec - λ log σ(D(z)))
    discriminator:     λ [mean_i softplus(-D(p_i)) + mean_i softplus(D(z_i))]  (minimised)

D outputs one logit. The order is the authors' ``wae.py`` (tolstikhin/wae, ``WAE.train``: one
``ae_opt`` step, then one ``adv_opt`` step whose graph encodes the same batch again with the
updated encoder), not Algorithm 1's listing (D first): the autoencoder's step comes first (the
strategy's optimiser, which steps :meth:`autoencoder_parameters` only); then :meth:`after_step`
re-encodes the batch with the updated encoder, E_after(x) (no gradient; batch-norm running
statistics are not updated a second time), and takes one step of D's own Adam on those latents
against a fresh prior sample of the same size. D's optimiser state is checkpointed through
:meth:`extra_state_dict`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aesweep.models.base import Draws, LatentSet
from aesweep.models.initialisation import initialise
from aesweep.models.wae_encoder import WAEEncoderModel
from aesweep.models.wae_gan.config import DiscriminatorConfig, WAEGANConfig


class LatentDiscriminator(nn.Module):
    """``layers`` fully connected ReLU layers of ``width``, then one logit."""

    def __init__(self, cfg: DiscriminatorConfig, latent_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.width), nn.ReLU()]
            width = cfg.width
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(1)


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
        self.discriminator = LatentDiscriminator(d, cfg.latent_dim)
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
