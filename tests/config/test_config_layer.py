"""The config layer: registries that carry config classes and lazy implementations, distance
kinds that strategies must declare, per-family configs, and the typed trial payload."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import ClassVar, Literal

import pytest

from aesweep.catalog import DATASETS, MODELS, STRATEGIES
from aesweep.config.distances import DISTANCE_KINDS, MMD, DistanceKind
from aesweep.config.models import AutoencoderConfig, ModelConfig, _check_family
from aesweep.config.registry import Registry, UnknownComponentError, import_target
from aesweep.config.strategies import StrategyConfig, _check_strategy
from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from tests.conftest import REPO


def test_registry_holds_values_and_imports_implementations_lazily() -> None:
    reg: Registry[str] = Registry("thing")
    reg.add("a", "value of a", implementation="math:sqrt", twice="operator:mul")
    assert reg.get("a") == "value of a" and reg.names() == ["a"] and "a" in reg
    assert reg.load("a")(16.0) == 4.0 and reg.load("a", "twice")(3, 2) == 6
    assert reg.has_role("a", "twice") and not reg.has_role("a", "generator")
    with pytest.raises(LookupError, match="no 'generator' implementation"):
        reg.load("a", "generator")
    with pytest.raises(UnknownComponentError, match="unknown thing 'b'; allowed: a"):
        reg.get("b")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", "again")
    with pytest.raises(ValueError, match="module:attribute"):
        import_target("math.sqrt")


def test_every_registered_implementation_imports() -> None:
    """Each spec name's implementation path resolves (a typo in a path fails here, not in a
    trial an hour into a sweep)."""
    from aesweep.config.models import ARCHITECTURES, PRIORS, RECONSTRUCTIONS
    from aesweep.config.optimizer import OPTIMIZERS

    for registry in (
        DATASETS,
        MODELS,
        STRATEGIES,
        ARCHITECTURES,
        PRIORS,
        RECONSTRUCTIONS,
        OPTIMIZERS,
    ):
        for name in registry:
            entry = registry.entry(name)
            assert entry.targets, f"{registry.kind} {name!r} has no implementation"
            for role in entry.targets:
                assert callable(entry.load(role)), (registry.kind, name, role)


def test_a_strategy_must_declare_the_distance_kinds_it_feeds() -> None:
    reg = Registry("strategy", check=_check_strategy)

    class Undeclared(StrategyConfig):
        kind: Literal["undeclared"] = "undeclared"

    with pytest.raises(TypeError, match="must declare supports"):
        reg.add("undeclared", Undeclared)

    class Declared(StrategyConfig):
        kind: Literal["declared"] = "declared"
        supports: ClassVar[frozenset[DistanceKind]] = frozenset({MMD})

    assert reg.add("declared", Declared) is Declared


def test_a_family_must_declare_its_distance_and_trainable() -> None:
    reg = Registry("model family", check=_check_family)

    class NoDistance(ModelConfig):
        family: Literal["nodistance"] = "nodistance"

    with pytest.raises(TypeError, match="must declare distance"):
        reg.add("nodistance", NoDistance)


def test_every_family_names_a_registered_distance_kind_and_strategies_declare_theirs() -> None:
    kinds = set(DISTANCE_KINDS.values())
    for name in MODELS:
        assert MODELS.get(name).distance in kinds, name
    for name in STRATEGIES:
        supports = STRATEGIES.get(name).__dict__["supports"]
        assert supports and supports <= kinds, name


@pytest.mark.parametrize(
    "family", [f for f in MODELS if issubclass(MODELS.get(f), AutoencoderConfig)]
)
def test_the_cost_takes_the_log_of_the_metric_the_familys_kind_names(family: str) -> None:
    """Evaluation reads the family's cost metric from its distance kind (no table by name)."""
    import torch

    from aesweep.config.evaluation import EvaluationConfig
    from aesweep.data.config import DigitsConfig
    from aesweep.data.loading import load_dataset
    from aesweep.models.loading import build_autoencoder
    from aesweep.trainables.evaluation import evaluate_autoencoder

    torch.manual_seed(0)
    data = load_dataset(DigitsConfig(train_size=64, test_size=64))
    model = build_autoencoder(MODELS.get(family)(latent_dim=8, width=0.25), data)
    out = evaluate_autoencoder(model, data.test, EvaluationConfig(latent_samples=64))
    metric = MODELS.get(family).distance.cost_metric
    assert metric is not None and metric in out
    assert out["cost"] == pytest.approx(out["rec_error"] + math.log(out[metric]), rel=1e-12)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"family": "generator", "architecture": "dcgan"}, "architecture"),
        ({"family": "generator", "prior": "sphere"}, "prior"),
        ({"family": "generator", "width": 3}, "width"),
        ({"family": "generator", "lambda": [1, 5]}, "lambda"),
        ({"family": "generator", "latent_trick": {}}, "latent_trick"),
        ({"family": "ae", "lambda": 10}, "lambda"),
        ({"family": "cw2", "reconstruction": "sum"}, "reconstruction"),
    ],
)
def test_a_field_that_does_not_apply_is_an_unknown_key(entry, field, write_spec, capsys) -> None:
    strategy = {"kind": "minibatch", "batch_size": 4}
    data = (
        {"dataset": "gaussian_mixture"} if entry["family"] == "generator" else {"dataset": "digits"}
    )
    path = write_spec({"name": "n", "data": data, "models": [entry], "strategies": [strategy]})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"models[0].{field}: unknown key; allowed: " in err[0]
    allowed = err[0].split("allowed: ")[1].split(", ")
    assert field not in allowed and "family" in allowed and "latent_dim" in allowed


def test_the_trial_payload_round_trips_through_json() -> None:
    _, trials = load_plan(REPO / "specs" / "wae_mnist.yaml")
    for trial in trials:
        payload = TrialPayload(trial=trial, tracking_uri="sqlite:////x.db", run_id="r", threads=2)
        back = TrialPayload.model_validate_json(payload.model_dump_json())
        assert back == payload
        assert type(back.trial.model) is type(trial.model)
        assert back.trial.trial_id == trial.trial_id
        assert back.trial.with_id().trial_id == trial.trial_id
    with pytest.raises(ValueError):
        TrialPayload.model_validate({"trial": trials[0].model_dump(), "run_id": "r"})


def test_trial_config_takes_the_registered_class_its_tag_names() -> None:
    _, trials = load_plan(REPO / "specs" / "rsr_toy.yaml")
    raw = trials[0].model_dump(mode="json", by_alias=True)
    again = TrialConfig.model_validate(raw)
    assert type(again.model).__name__ == "GeneratorConfig"
    assert not isinstance(again.model, AutoencoderConfig)
    assert again.resolved() == trials[0].resolved()


def test_a_relative_data_root_reaches_the_trial_absolute_with_the_same_id(
    tmp_path, monkeypatch
) -> None:
    """A Ray worker runs in its own directory: the payload carries the data's location made
    absolute against the directory the spec was submitted from; the id is the planned one."""
    from aesweep.sweeps.prepare import Prepared, payload

    _, trials = load_plan(REPO / "specs" / "mow_mnist.yaml")
    trial = trials[0]
    assert trial.data.root == "../shared/data"
    monkeypatch.chdir(REPO)
    store = SimpleNamespace(uri="sqlite:////tmp/x.db")  # payload() reads only the store's uri
    prep = Prepared(store, "p", [trial], {trial.trial_id: "r"}, {}, [], "x")
    sent = payload(prep, trial, threads=1, use_gpu=False).trial
    assert sent.data.root == str((REPO / "../shared/data").resolve())
    assert sent.trial_id == trial.trial_id and sent.with_id().trial_id != trial.trial_id
    elsewhere = trial.located(tmp_path)
    assert elsewhere.data.root == str((tmp_path / "../shared/data").resolve())
    digits = load_plan(REPO / "specs" / "quickstart.yaml")[1][0]
    assert digits.located(tmp_path) == digits  # no location field: unchanged
