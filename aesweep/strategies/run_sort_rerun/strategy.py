"""Run-Sort-ReRun (RSR §3.2, Algorithms 1 and 2): a sliced Wasserstein loss over an effective
batch of b samples with activations for only m of them in memory at a time.

1. Run (no gradient): the outputs F of b/m chunks, stored with their inputs.
2. Sort: per direction θ_l, the target of each output is the real (or prior) value of equal
   rank: rank = argsort(argsort(F θ_l)).
3. ReRun (gradient): each chunk again from its stored inputs, loss_chunk = Σ |target - F θ|^p
   / (b L), backward, accumulate; one optimiser step for the whole effective batch.
The accumulated gradient equals the gradient of the full-batch ``mean_l W_p^p(F θ_l, D θ_l)``.
Directions for the next step (Algorithm 2): keep the ⌊L·keep⌋ with the largest loss, renew the
rest as (d_i - f_j)/||d_i - f_j|| for random pairs of a real and a generated sample.

:class:`RunSortReRun` applies it to SWAE's latent term (outputs = latents, targets = prior
samples), adding each chunk's reconstruction term weighted so that the chunks sum to the
full-batch rec gradient (the family's own ``projections`` field is not used: the strategy's
``projections`` directions follow Algorithm 2); :mod:`.generator` (the strategy's ``generator``
role) applies the same functions in data space.
BatchNorm runs on running statistics in both passes (:mod:`aesweep.strategies.running_stats`).
``after_step`` hooks of the family are not called (no sliced family has one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from aesweep.data.base import TrainSplit
from aesweep.distances import random_directions
from aesweep.models.base import AutoencoderModel
from aesweep.strategies.base import StepSums, Strategy
from aesweep.strategies.run_sort_rerun.config import RunSortReRunConfig
from aesweep.strategies.running_stats import RunningStatistics


def _abs_pow(diff: torch.Tensor, power: float) -> torch.Tensor:
    return diff.square() if power == 2 else diff.abs().pow(power)


@torch.no_grad()
def run_pass(
    forward: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    chunk: int,
    store: torch.device | str | None = None,
) -> torch.Tensor:
    """Run: ``forward`` over ``inputs`` chunk by chunk without gradient; (b, d) outputs,
    kept on ``store`` (default: where they were computed)."""
    outs = [forward(inputs[s : s + chunk]).flatten(1) for s in range(0, len(inputs), chunk)]
    out = torch.cat(outs)
    return out if store is None else out.to(store)


@torch.no_grad()
def sort_targets(
    outputs: torch.Tensor, targets: torch.Tensor, directions: torch.Tensor, power: float = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort: the matched target of every output per direction, and the loss per direction.

    Args:
        outputs: (b, d) generated values F (latents, samples).
        targets: (b, d) real or prior values D.
        directions: (L, d).

    Returns:
        matched (L, b): ``sort(D θ_l)[rank of F_i θ_l]``; per_direction (L,): ``W_p^p`` of each
        projection pair (their mean is the sliced distance).
    """
    theta = directions.to(outputs.dtype)
    proj_f = theta @ outputs.T
    proj_d = theta @ targets.to(outputs.dtype).T
    rank = proj_f.argsort(dim=1).argsort(dim=1)
    matched = proj_d.sort(dim=1).values.gather(1, rank)
    per_direction = _abs_pow(proj_f - matched, power).mean(1)
    return matched, per_direction


def chunk_loss(
    outputs: torch.Tensor,
    matched: torch.Tensor,
    directions: torch.Tensor,
    total: int,
    power: float = 2,
) -> torch.Tensor:
    """ReRun: one chunk's share ``Σ_{l,i} |target_il - F_i θ_l|^p / (b L)`` of the full loss."""
    proj = directions.to(outputs.dtype) @ outputs.flatten(1).T  # (L, m)
    return _abs_pow(proj - matched.to(outputs.dtype), power).sum() / (total * len(directions))


def rerun_pass(
    forward: Callable[[torch.Tensor, slice], tuple[torch.Tensor, torch.Tensor | None]],
    inputs: torch.Tensor,
    matched: torch.Tensor,
    directions: torch.Tensor,
    chunk: int,
    *,
    power: float = 2,
    weight: float = 1.0,
) -> None:
    """ReRun: per chunk, ``forward(inputs_chunk, rows) -> (outputs, extra)`` with gradient,
    backward of ``weight · chunk_loss + extra`` (extra: a per-chunk term such as rec, or None);
    gradients accumulate in ``.grad``."""
    total = len(inputs)
    for s in range(0, total, chunk):
        rows = slice(s, s + chunk)
        out, extra = forward(inputs[rows], rows)
        target = matched[:, rows].to(out.device)
        loss = weight * chunk_loss(out, target, directions.to(out.device), total, power)
        if extra is not None:
            loss = loss + extra
        loss.backward()


@torch.no_grad()
def next_directions(
    directions: torch.Tensor,
    per_direction: torch.Tensor,
    keep: float,
    real: torch.Tensor,
    generated: torch.Tensor,
) -> torch.Tensor:
    """Algorithm 2: the ⌊L·keep⌋ directions with the largest loss, then (d_i - f_j)/||d_i - f_j||
    for random pairs of a real sample d_i and a generated one f_j (a random Gaussian direction
    where the pair coincides)."""
    n_dirs, dim = directions.shape
    kept = directions[per_direction.argsort(descending=True)[: int(n_dirs * keep)]]
    fresh = n_dirs - len(kept)
    i = torch.randint(len(real), (fresh,), device=real.device)
    j = torch.randint(len(generated), (fresh,), device=generated.device)
    diff = (real[i].flatten(1).to(generated.dtype) - generated[j].flatten(1)).to(directions)
    norm = diff.norm(dim=1, keepdim=True)
    fallback = random_directions(fresh, dim, dtype=directions.dtype, device=directions.device)
    new = torch.where(norm > 0, diff / norm.clamp_min(torch.finfo(norm.dtype).tiny), fallback)
    return torch.cat([kept, new])


def rec_weights(model: AutoencoderModel, per_image: torch.Tensor) -> torch.Tensor:
    """∂rec/∂r_i at the run's per-image squared-error sums r: the chunk terms Σ_i w_i r_i(θ)
    then add up to the exact gradient of the full-batch rec (also for the sqrt form)."""
    with torch.enable_grad():
        r = per_image.detach().double().requires_grad_(True)
        (grad,) = torch.autograd.grad(model.rec_from_sums(r), r)
    return grad.to(per_image.dtype)


def _per_image(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    return (x - x_hat).pow(2).flatten(1).sum(1)


class RunSortReRun(Strategy):
    """RSR for an autoencoder with a sliced latent distance (SWAE): b images per step."""

    cfg: RunSortReRunConfig
    power = 2  # SWAE's SW²

    def __init__(
        self,
        cfg: RunSortReRunConfig,
        model: AutoencoderModel,
        train: TrainSplit,
        *,
        epochs: int | None = None,
    ) -> None:
        super().__init__(cfg, model, train, epochs=epochs)
        self.directions: torch.Tensor | None = None
        self.device = model.param_device()
        self.store = torch.device("cpu") if cfg.store == "cpu" else self.device

    def step_indices(self, n_train: int) -> list[torch.Tensor]:
        """The epoch's steps: b indices each from a random order (several orders if b > N)."""
        b = self.cfg.effective_batch
        steps = max(1, n_train // b)
        orders = -(-steps * b // n_train)  # ceil
        order = torch.cat([torch.randperm(n_train, device=self.device) for _ in range(orders)])
        return [order[s * b : (s + 1) * b] for s in range(steps)]

    def train_epoch(
        self,
        model: AutoencoderModel,
        optimizer: torch.optim.Optimizer,
        train: TrainSplit,
        epoch: int,
    ) -> StepSums:
        sums = StepSums()
        stats = RunningStatistics(model)
        for index in self.step_indices(len(train)):
            sums.add(self.step(model, optimizer, train, index, stats))
        return sums

    def step(
        self,
        model: AutoencoderModel,
        optimizer: torch.optim.Optimizer,
        train: TrainSplit,
        index: torch.Tensor,
        stats: RunningStatistics,
    ) -> dict[str, torch.Tensor]:
        cfg, b, m = self.cfg, len(index), self.cfg.chunk  # b: the step's effective batch
        lam = model.cfg.latent_weight or 0.0  # SWAE's λ (every sliced family has one)
        rec_sums: list[torch.Tensor] = []

        def run_chunk(ix: torch.Tensor) -> torch.Tensor:
            x = train[ix]
            z = model.encode(x)
            rec_sums.append(_per_image(x, model.decode(z)))
            return z

        with stats.collecting():
            latents = run_pass(run_chunk, index, m, self.store)
        prior = model.sample_prior(b).to(self.store)
        if self.directions is None:
            self.directions = random_directions(
                cfg.projections, model.latent_dim, device=self.store
            )
        directions = self.directions.to(self.store)
        matched, per_direction = sort_targets(latents, prior, directions, self.power)
        per_image = torch.cat(rec_sums)
        weights = rec_weights(model, per_image)

        def rerun_chunk(ix: torch.Tensor, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
            x = train[ix]
            z = model.encode(x)
            return z, (weights[rows] * _per_image(x, model.decode(z))).sum()

        optimizer.zero_grad(set_to_none=True)
        with stats.frozen():
            rerun_pass(
                rerun_chunk,
                index,
                matched,
                directions.to(self.device),
                m,
                power=self.power,
                weight=lam,
            )
        optimizer.step()
        stats.update()
        self.directions = next_directions(directions, per_direction, cfg.keep, prior, latents)
        rec = model.rec_from_sums(per_image).detach()
        latent = per_direction.mean().to(rec.device)
        loss = rec + lam * latent
        return {"loss": loss, "rec": rec, "latent": latent}

    def state_dict(self) -> dict[str, Any]:
        return {} if self.directions is None else {"directions": self.directions.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "directions" in state:
            self.directions = state["directions"].to(self.store)
