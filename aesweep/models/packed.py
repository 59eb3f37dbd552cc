"""N autoencoders of one family and architecture as one vectorized computation (trial packs).

The members' parameters and buffers are stacked (``torch.func.stack_module_state``) and the
networks run under ``torch.func.vmap`` of ``functional_call`` on a template; the objective is
the family's rec + λ F(Z) per member with the batched distances of
:mod:`aesweep.distances.batched`. Every random draw of a member's objective (prior samples,
SW directions) comes from that member's own generator, in the order its unpacked trial makes
it from the global RNG, so member i computes what trial i computes. Families: ae, wae_mmd,
cwae, swae, cw2 (:data:`PACKED_FAMILIES`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from aesweep.config.models import RECONSTRUCTIONS, WithReconstruction
from aesweep.distances import random_directions
from aesweep.distances.batched import (
    batched_cw_distance,
    batched_cw_normality,
    batched_mmd_imq,
    batched_sliced_wasserstein,
)
from aesweep.models.ae.model import AE
from aesweep.models.base import AutoencoderModel
from aesweep.models.cw2.model import CW2
from aesweep.models.cwae.model import CWAE
from aesweep.models.swae.model import SWAE
from aesweep.models.wae_mmd.config import WAEMMDConfig
from aesweep.models.wae_mmd.model import WAEMMD

PACKED_FAMILIES: dict[str, type[AutoencoderModel]] = {
    "ae": AE,
    "wae_mmd": WAEMMD,
    "cwae": CWAE,
    "swae": SWAE,
    "cw2": CW2,
}
"""The families with a packed objective (aesweep/config/packs.py keeps the same names)."""

Parts = dict[str, torch.Tensor]


class PackedAutoencoder:
    """The stacked networks of ``members`` (built as their trials build them) and their
    batched objective. ``members`` stay the per-member views (evaluation, image grids):
    :meth:`sync_member` copies member i's stacked parameters into its own module."""

    def __init__(self, members: Sequence[AutoencoderModel]) -> None:
        kinds = {type(m) for m in members}
        if len(kinds) != 1:
            raise ValueError(f"a pack's members share one family, got {sorted(map(str, kinds))}")
        self.members = list(members)
        first = self.members[0]
        self.family = type(first)
        self.prior = first.prior
        self.latent_dim = first.latent_dim
        params, buffers = stack_module_state([m.net for m in self.members])
        self.params: dict[str, torch.Tensor] = params
        self.buffers: dict[str, torch.Tensor] = buffers
        self.template: nn.Module = copy.deepcopy(first.net).to("meta")
        device = next(iter(params.values())).device
        self.device = device
        weights = [m.cfg.latent_weight for m in self.members]
        self.weighted = weights[0] is not None
        dtype = next(iter(params.values())).dtype
        self.weights = torch.tensor(
            [0.0 if w is None else w for w in weights], dtype=dtype, device=device
        )

    def __len__(self) -> int:
        return len(self.members)

    def parameter_list(self) -> list[torch.Tensor]:
        return list(self.params.values())

    # -- networks --------------------------------------------------------------------------

    def _call(self, part: str, x: torch.Tensor) -> torch.Tensor:
        prefix = part + "."
        sub: nn.Module = getattr(self.template, part)
        params = {k[len(prefix) :]: v for k, v in self.params.items() if k.startswith(prefix)}
        buffers = {k[len(prefix) :]: v for k, v in self.buffers.items() if k.startswith(prefix)}

        def one(
            p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xi: torch.Tensor
        ) -> torch.Tensor:
            y: torch.Tensor = functional_call(sub, (p, b), (xi,))
            return y

        out: torch.Tensor = vmap(one)(params, buffers, x)
        return out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, B, ...) images -> (N, B, d) latents (on the prior's support)."""
        h = self._call("encoder", x)
        return vmap(self.prior.project)(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self._call("decoder", z)

    # -- the objective ---------------------------------------------------------------------

    def sample_prior(self, n: int, generators: Sequence[torch.Generator]) -> torch.Tensor:
        """(N, n, d): member i's n prior draws from its generator (as its trial draws them)."""
        return torch.stack(
            [
                m.sample_prior(n, device=self.device, generator=g)
                for m, g in zip(self.members, generators, strict=True)
            ]
        )

    def rec_loss(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        if issubclass(self.family, CW2):
            return torch.log(batched_cw_distance(x_hat, x, self._cw2_gamma(x, x_hat)))
        cfg = self.members[0].cfg
        assert isinstance(cfg, WithReconstruction)
        form = RECONSTRUCTIONS.load(cfg.reconstruction)
        per_image = (x - x_hat).pow(2).flatten(2).sum(2)
        return vmap(form)(per_image)

    def _cw2_gamma(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        gammas = []
        for i, m in enumerate(self.members):
            assert isinstance(m, CW2)
            gammas.append(m.bandwidth(x[i], x_hat[i]))  # per member, as its trial computes it
        return torch.tensor(gammas, dtype=x.dtype, device=x.device) if n else x.new_zeros(0)

    def latent_loss(
        self, z_set: torch.Tensor, generators: Sequence[torch.Generator]
    ) -> torch.Tensor:
        """F per member on (N, n, d) sets; draws in the unpacked order (prior, then SW)."""
        family, n = self.family, z_set.shape[1]
        if issubclass(family, CWAE):  # CWAE and CW²
            return torch.log(batched_cw_normality(z_set))
        if issubclass(family, WAEMMD):
            prior = self.sample_prior(n, generators)
            cfg = self.members[0].cfg
            c_base = self.prior.imq_c_base(self.latent_dim)
            assert isinstance(cfg, WAEMMDConfig)
            return batched_mmd_imq(z_set, prior, scales=cfg.scales, c_base=c_base)
        if issubclass(family, SWAE):
            priors, thetas = [], []
            for m, g in zip(self.members, generators, strict=True):
                assert isinstance(m, SWAE)
                priors.append(m.sample_prior(n, device=self.device, generator=g))
                thetas.append(
                    random_directions(
                        m.cfg.projections,
                        self.latent_dim,
                        generator=g,
                        dtype=z_set.dtype,
                        device=self.device,
                    )
                )
            return batched_sliced_wasserstein(z_set, torch.stack(priors), torch.stack(thetas))
        return z_set.new_zeros(len(self))

    def training_loss(
        self,
        x: torch.Tensor,
        x_hat: torch.Tensor,
        z: torch.Tensor,
        stored: torch.Tensor | None,
        generators: Sequence[torch.Generator],
    ) -> tuple[torch.Tensor, Parts]:
        """(N,) rec + λ F(fresh ⧺ stored) and the detached parts (N,) each."""
        rec = self.rec_loss(x, x_hat)
        z_set = z if stored is None else torch.cat([z, stored], 1)
        latent = self.latent_loss(z_set, generators)
        loss = rec + self.weights * latent if self.weighted else rec
        return loss, {"loss": loss.detach(), "rec": rec.detach(), "latent": latent.detach()}

    # -- members ---------------------------------------------------------------------------

    @torch.no_grad()
    def sync_member(self, i: int) -> AutoencoderModel:
        """Member i's own module holding its current stacked parameters and buffers."""
        model = self.members[i]
        for name, p in model.net.named_parameters():
            p.copy_(self.params[name][i])
        for name, b in model.net.named_buffers():
            b.copy_(self.buffers[name][i])
        return model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            **{f"params.{k}": v.detach() for k, v in self.params.items()},
            **{f"buffers.{k}": v for k, v in self.buffers.items()},
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor], rows: list[int]) -> None:
        """Restore from a pack checkpoint whose member ``rows[i]`` is member i."""
        index = torch.tensor(rows)
        for k, v in self.params.items():
            v.copy_(state[f"params.{k}"].index_select(0, index).to(v.device))
        for k, b in self.buffers.items():
            b.copy_(state[f"buffers.{k}"].index_select(0, index).to(b.device))
