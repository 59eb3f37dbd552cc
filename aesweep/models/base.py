"""The shape every family shares (MoW eq. 1): cost = F(Z; V) + Σ G(x_i).

A family supplies the networks, the per-sample term G (reconstruction) and the set term F
(the latent distance). A strategy decides which latents F sees (``z_set``, or a
:class:`LatentSet` of fresh and stored latents); families know nothing of strategies, Ray or
MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from aesweep.config.models import (
    ARCHITECTURES,
    PRIORS,
    RECONSTRUCTIONS,
    AutoencoderConfig,
    WithReconstruction,
)
from aesweep.data.base import TensorDataset
from aesweep.models.initialisation import initialise
from aesweep.models.reconstruction import squared_error_sums


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32, unless it is float64 already (the objective's precision under
    autocast: low-precision activations come up, float64 checks stay float64)."""
    return t if t.dtype == torch.float64 else t.float()


Draws = dict[str, torch.Tensor]
"""A step's random inputs by name (prior samples, SW directions), drawn outside the step."""


@dataclass(frozen=True)
class LatentSet:
    """The set a strategy hands the family's distance F (MoW eq. 1).

    ``fresh``: latents of this step's images (with gradient); ``stored``: latents kept from
    earlier steps (moving-window buffer, momentum queue; no gradient); ``keys``: the momentum
    encoder's latents of this step's images (MoCA's positives), when a strategy computes them.
    """

    fresh: torch.Tensor
    stored: torch.Tensor | None = None
    keys: torch.Tensor | None = None

    def float32(self) -> LatentSet:
        """The same set in float32 (the distances are computed in float32 under autocast)."""
        stored = None if self.stored is None else at_least_float32(self.stored)
        keys = None if self.keys is None else at_least_float32(self.keys)
        return LatentSet(at_least_float32(self.fresh), stored, keys)

    def joined(self) -> torch.Tensor:
        """Every row F compares: the fresh latents followed by the stored ones."""
        return self.fresh if self.stored is None else torch.cat([self.fresh, self.stored])


class AutoencoderModel(nn.Module):
    """Base of the stage-1 families: encoder, decoder, rec + λ·F(z_set)."""

    def __init__(
        self, cfg: AutoencoderConfig, sample_shape: tuple[int, ...], *, is_image: bool
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.latent_dim = cfg.latent_dim
        self.prior = PRIORS.load(cfg.prior)()
        # ``kernel`` only for architectures that offer a choice (validation refuses the others)
        choice = {"kernel": cfg.kernel} if ARCHITECTURES.get(cfg.architecture).kernels else {}
        self.net = ARCHITECTURES.load(cfg.architecture)(
            sample_shape, cfg.latent_dim, width=cfg.width, sigmoid_output=is_image, **choice
        )
        initialise(self.net, cfg.init)
        # looked up once (a registry import inside a compiled step would break its graph)
        self.reconstruction_form: Callable[[torch.Tensor], torch.Tensor] | None = None
        if isinstance(cfg, WithReconstruction):
            self.reconstruction_form = RECONSTRUCTIONS.load(cfg.reconstruction)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.project_latent(self.net.encoder(x))

    def project_latent(self, h: torch.Tensor) -> torch.Tensor:
        """An encoder's raw output as a latent: onto the unit sphere for a sphere prior (also
        applied to a momentum encoder's output)."""
        return self.prior.project(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decoder(z)

    def sample_prior(
        self,
        n: int,
        *,
        device: torch.device | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """n draws from the prior (aesweep/models/priors.py). With ``generator`` the draw is
        made on the generator's device (then moved), so a seeded evaluation sample is the same
        on every device."""
        target = self.param_device() if device is None else device
        return self.prior.sample(n, self.latent_dim, device=target, generator=generator)

    def param_device(self) -> torch.device:
        return next(self.parameters()).device

    def bind_data(self, data: TensorDataset) -> None:
        """Called once after construction with the trial's dataset (CW² reads its pixel σ)."""
        return None

    def autoencoder_parameters(self) -> Iterator[nn.Parameter]:
        """What the trial's optimiser steps: every parameter, except a family's auxiliary
        networks with their own optimiser (WAE-GAN's discriminator)."""
        return self.parameters()

    def extra_state_dict(self) -> dict[str, Any]:
        """Checkpointed state beyond ``state_dict()``: optimisers the family owns."""
        return {}

    def load_extra_state_dict(self, state: dict[str, Any]) -> None:
        return None

    def scale_extra_lr(self, factor: float) -> None:
        """Set the rates of optimisers the family owns to their base × ``factor`` (the
        spec's ``optimizer.schedule``)."""
        return None

    def rec_loss(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return self.rec_from_sums(squared_error_sums(x, x_hat))

    def rec_from_sums(self, per_image: torch.Tensor) -> torch.Tensor:
        """rec from per-image squared-error sums, in the family's ``reconstruction`` form; a
        family that overrides :meth:`rec_loss` with a set form overrides this too
        (Run-Sort-ReRun uses it)."""
        if self.reconstruction_form is None:
            raise NotImplementedError(f"{self.cfg.family} has no per-image reconstruction form")
        rec: torch.Tensor = self.reconstruction_form(per_image)
        return rec

    def step_draws(
        self,
        rows: int,
        steps: int,
        generator: torch.Generator | None,
        device: torch.device,
        *,
        images: tuple[int, ...] = (),
    ) -> Draws:
        """The random inputs of ``steps`` training steps whose latent set has ``rows`` rows,
        each (steps, ...), drawn from ``generator`` in a fixed order (the RNG protocol of the
        README: drawn outside the step, so eager, packed and compiled steps see the same
        numbers). ``images``: the shape of a step's images (fresh rows first), for draws on
        the encoder's inputs. Families whose objective draws nothing return ``{}``."""
        return {}

    def encoder_input(self, x: torch.Tensor, draws: Draws) -> torch.Tensor:
        """What the encoder reads of a step's images ``x`` (the WAE code's input noise adds
        ``draws["input_noise"]``); reconstruction is always of ``x``."""
        return x

    def latent_loss(self, z_set: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        """F(Z): the family's distance of the latent set to the prior (zero for a plain AE).
        ``draws``: one step's random inputs (:meth:`step_draws`); None draws them here from
        torch's global RNG (a single call outside training)."""
        return z_set.new_zeros(())

    def one_step_draws(self, rows: int, device: torch.device, draws: Draws | None) -> Draws:
        """``draws``, or one step's drawn now from the global RNG (for a call outside the
        step)."""
        if draws is not None:
            return draws
        return {k: v[0] for k, v in self.step_draws(rows, 1, None, device).items()}

    def set_loss(self, latents: LatentSet, draws: Draws | None = None) -> torch.Tensor:
        """F on the set a strategy formed: by default the distance of the joined set (the
        fresh rows carry the gradient). MoCA overrides it to use the momentum keys."""
        return self.latent_loss(latents.joined(), draws)

    def training_loss(
        self,
        x: torch.Tensor,
        x_hat: torch.Tensor,
        z_set: torch.Tensor | LatentSet,
        draws: Draws | None = None,
        weight: torch.Tensor | float | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """rec(x, x̂) + λ F(z_set); also the detached parts, for device-side accumulation.
        ``weight``: λ (a pack member's, as a tensor; default the config's).

        Under mixed precision the networks run in bfloat16 but the objective does not: autocast
        is off here and every input is brought to at least float32, so the distances stay exact."""
        latents = z_set if isinstance(z_set, LatentSet) else LatentSet(z_set)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x, x_hat, latents = at_least_float32(x), at_least_float32(x_hat), latents.float32()
            rec = self.rec_loss(x, x_hat)
            latent = self.set_loss(latents, draws)
            if weight is None:
                weight = self.cfg.latent_weight
            loss = rec if weight is None else rec + weight * latent
        return loss, {"loss": loss.detach(), "rec": rec.detach(), "latent": latent.detach()}

    def compile_blocker(self) -> str | None:
        """Why this family's step cannot be one compiled program (None: it can)."""
        return None

    def after_step(
        self,
        x: torch.Tensor,
        z: torch.Tensor | None,
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """An update of the family's own after the autoencoder's step (WAE-GAN's critic),
        on the module holding the updated parameters; its draws from ``generator``."""
        return {}

    def has_after_step(self) -> bool:
        return type(self).after_step is not AutoencoderModel.after_step
