"""Distance kinds: what a family's regulariser compares, as registry entries with properties.

A family names one kind (``ModelConfig.distance``); a strategy declares the kinds it can feed
(``StrategyConfig.supports``, checked by ``plan`` before anything runs); evaluation reads the
family's cost metric from the kind (MoW §4: cost = rec_error + log(distance)). The functions
themselves live in :mod:`aesweep.distances` (pure tensor functions); this module is torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aesweep.config.registry import Registry


@dataclass(frozen=True)
class DistanceKind:
    """``space``: what is compared (latents to a prior, or generated to real data);
    ``sliced``: a sliced Wasserstein distance (Run-Sort-ReRun can compute it in chunks);
    ``set_term``: the term compares a set, so the strategy's choice of set matters (False: no
    latent term, or a per-sample penalty); ``cost_metric``: the evaluation metric that
    ``cost`` takes the log of (None: no cost, e.g. the data-space generator)."""

    name: str
    space: Literal["latent", "data"]
    sliced: bool
    set_term: bool
    cost_metric: str | None
    description: str

    def __str__(self) -> str:
        return self.name


DISTANCE_KINDS: Registry[DistanceKind] = Registry("distance kind")


def _kind(kind: DistanceKind) -> DistanceKind:
    return DISTANCE_KINDS.add(kind.name, kind)


NO_DISTANCE = _kind(
    DistanceKind(
        "none",
        space="latent",
        sliced=False,
        set_term=False,
        cost_metric="cw_distance",
        description="no latent term (the plain autoencoder); cost uses the CW distance",
    )
)
ADVERSARIAL = _kind(
    DistanceKind(
        "adversarial",
        space="latent",
        sliced=False,
        set_term=False,
        cost_metric="cw_distance",
        description="-log D(z) of a latent discriminator, a per-sample penalty (WAE-GAN, WAE §2.2)",
    )
)
MMD = _kind(
    DistanceKind(
        "mmd",
        space="latent",
        sliced=False,
        set_term=True,
        cost_metric="wae_distance",
        description="multi-scale IMQ MMD to a prior sample (WAE-MMD)",
    )
)
CRAMER_WOLD = _kind(
    DistanceKind(
        "cw",
        space="latent",
        sliced=False,
        set_term=True,
        cost_metric="cw_distance",
        description="closed-form Cramér-Wold distance to N(0, I) (CWAE, CW²)",
    )
)
SLICED = _kind(
    DistanceKind(
        "sliced",
        space="latent",
        sliced=True,
        set_term=True,
        cost_metric="sw_distance",
        description="sliced Wasserstein distance to a prior sample (SWAE)",
    )
)
CONTRASTIVE = _kind(
    DistanceKind(
        "contrastive",
        space="latent",
        sliced=False,
        set_term=True,
        cost_metric="wae_distance",
        description="contrastive uniformity on the sphere (MoCA); cost uses the MMD to its prior",
    )
)
SLICED_DATA = _kind(
    DistanceKind(
        "sliced_data",
        space="data",
        sliced=True,
        set_term=True,
        cost_metric=None,
        description="sliced Wasserstein distance between generated and real samples (RSR toy)",
    )
)


def kinds_where(**properties: object) -> frozenset[DistanceKind]:
    """The registered kinds whose properties equal ``properties`` (``space="latent"``)."""
    return frozenset(
        k for k in DISTANCE_KINDS.values() if all(getattr(k, p) == v for p, v in properties.items())
    )
