"""Specs that must not validate: each problem is one line naming the leaf field and
what is allowed there, exit code 2, nothing started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aesweep.catalog import DATASETS, MODELS, STRATEGIES
from aesweep.config.data import DataConfig
from aesweep.config.optimizer import MultiStepSchedule, StepSchedule
from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan, load_spec
from aesweep.sweeps.preflight import check_data

GOOD: dict[str, Any] = {"name": "ok", "models": [{"family": "cwae", "latent_dim": 8}]}


def lines_of(capsys, write_spec, spec: dict | str, *extra: str) -> list[str]:
    """The error lines of ``aesweep validate`` (which must fail with 2), without the path."""
    path = write_spec(spec)
    code = main(["validate", str(path), *extra])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and out == ""
    return [ln.removeprefix(f"{path}:").removeprefix(" ") for ln in err.splitlines() if ln]


def one_line(capsys, write_spec, spec: dict | str, *extra: str) -> str:
    lines = lines_of(capsys, write_spec, spec, *extra)
    assert len(lines) == 1, lines
    return lines[0]


def with_model(**fields: Any) -> dict:
    return {**GOOD, "models": [{"family": "cwae", "latent_dim": 8, **fields}]}


# --- non-finite numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("optimizer: {lr: 1e400}", "optimizer.lr"),
        ("optimizer: {lr: [0.001, .inf]}", "optimizer.lr[1]"),
        ("models: [{family: cwae, lambda: .nan}]", "models[0].lambda"),
        ("models: [{family: cwae, width: -.inf}]", "models[0].width"),
        ("models: [{family: wae_gan, discriminator: {lr: .nan}}]", "models[0].discriminator.lr"),
        ("optimizer: {betas: [0.5, .nan]}", "optimizer.betas[1]"),
        ("data: {dataset: gaussian_mixture, means: [0.0, .inf]}", "data.means[1]"),
        ("resources: {cpus_per_trial: .inf}", "resources.cpus_per_trial"),
        (
            "optimizer: {schedule: {kind: multistep, milestones: [3], factors: [.nan]}}",
            "optimizer.schedule.factors[0]",
        ),
    ],
)
def test_inf_and_nan_are_rejected_in_every_float_field(text, path, capsys, write_spec) -> None:
    spec = "name: x\nmodels: [{family: cwae}]\n" + text + "\n"
    if text.startswith("models"):
        spec = "name: x\n" + text + "\n"
    line = one_line(capsys, write_spec, spec)
    assert line.startswith(f"{path}: Input should be a finite number"), line


def test_inf_from_set_is_rejected(capsys, write_spec) -> None:
    line = one_line(capsys, write_spec, GOOD, "--set", "optimizer.lr=.inf")
    assert line == "optimizer.lr: Input should be a finite number (got inf)"


# --- duplicates ------------------------------------------------------------------------------


def test_a_duplicate_grid_value_names_both_indices(capsys, write_spec) -> None:
    spec = {**GOOD, "optimizer": {"lr": [0.001, 0.0003, 0.001]}}
    line = one_line(capsys, write_spec, spec)
    assert line.startswith("optimizer.lr[2]: duplicate of optimizer.lr[0] (0.001)"), line


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({**GOOD, "seeds": [0, 1, 0]}, "seeds[2]: duplicate of seeds[0] (0)"),
        (
            {"name": "x", "models": [{"family": "cwae", "lambda": [1, 2, 1.0]}]},
            "models[0].lambda[2]: duplicate of models[0].lambda[0] (1.0)",
        ),
        (
            {"name": "x", "models": [{"family": "cwae", "latent_dim": [8, 16, 8.0]}]},
            "models[0].latent_dim[2]: duplicate of models[0].latent_dim[0] (8)",
        ),
        (
            {**GOOD, "strategies": [{"kind": "minibatch", "batch_size": [32, 64, 32]}]},
            "strategies[0].batch_size[2]: duplicate of strategies[0].batch_size[0] (32)",
        ),
    ],
)
def test_duplicate_values_of_every_axis(spec, expected, capsys, write_spec) -> None:
    assert one_line(capsys, write_spec, spec).startswith(expected)


def test_entries_that_plan_the_same_trials_are_named_both(capsys, write_spec) -> None:
    spec = {**GOOD, "models": [GOOD["models"][0], {"family": "ae"}, GOOD["models"][0]]}
    spec["optimizer"] = {"lr": [0.01, 0.001]}
    line = one_line(capsys, write_spec, spec)
    assert line.startswith("models[2]: plans the same trials as models[0] ("), line
    # Fields that change how images are read, not which, leave the trial id as it is.
    folder = {"dataset": "image_folder", "path": "/nowhere"}
    spec = {**GOOD, "data": [folder, {**folder, "workers": 4}]}
    assert one_line(capsys, write_spec, spec).startswith(
        "data[1]: plans the same trials as data[0]"
    )


# --- YAML ------------------------------------------------------------------------------------


def test_duplicate_yaml_keys_at_every_level(capsys, write_spec) -> None:
    text = "name: x\nmodels: [{family: cwae}]\noptimizer: {lr: 0.1}\noptimizer: {lr: 0.2}\n"
    assert one_line(capsys, write_spec, text) == "4:1: duplicate key 'optimizer' (first at line 3)"
    text = "name: x\nmodels:\n  - family: cwae\n    latent_dim: 8\n    latent_dim: 16\n"
    assert one_line(capsys, write_spec, text) == "5:5: duplicate key 'latent_dim' (first at line 4)"
    line = one_line(capsys, write_spec, GOOD, "--set", "optimizer={lr: 1, lr: 2}")
    assert line.startswith("--set optimizer: duplicate key 'lr'")


def test_a_merge_key_may_be_overridden(write_spec) -> None:
    text = "name: x\nmodels: [&m {family: cwae, latent_dim: 8}, {<<: *m, latent_dim: 16}]\n"
    _, trials = load_plan(write_spec(text))
    assert [t.model.latent_dim for t in trials] == [8, 16]


def test_a_python_tag_is_forbidden_not_a_syntax_error(capsys, write_spec) -> None:
    text = "name: x\nmodels: [{family: cwae, latent_dim: !!python/object/apply:os.system [ls]}]\n"
    line = one_line(capsys, write_spec, text)
    assert line.startswith("2:37: forbidden tag !!python/object/apply:os.system"), line
    assert "syntax" not in line
    line = one_line(capsys, write_spec, "name: !!binary aGVsbG8=\nmodels: [{family: cwae}]\n")
    assert "forbidden tag !!binary" in line


def test_a_date_is_read_as_a_string(write_spec) -> None:
    spec = load_spec(write_spec("name: 2024-05-01\nmodels: [{family: cwae}]\n"))
    assert spec.name == "2024-05-01"


def test_a_file_that_is_not_utf8_says_so(capsys, tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: x\nmodels: [{family: cwae, prior: gauß}]\n".encode("latin-1"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{path}:2:35: not UTF-8 text (byte 0xdf); save the spec as UTF-8"


# --- selection.metric ------------------------------------------------------------------------


def test_a_selection_metric_no_trial_logs_lists_what_they_log(capsys, write_spec) -> None:
    line = one_line(capsys, write_spec, {**GOOD, "selection": {"metric": "rec_err"}})
    assert line.startswith("selection.metric: unknown metric 'rec_err'; allowed: "), line
    allowed = line.split("allowed: ")[1].split(", ")
    for metric in ("rec_error", "cw_distance", "wae_distance", "sw_distance", "cost"):
        assert metric in allowed
    assert "sample_cw" in allowed and "gen_sample_cw" in allowed and "train_loss" in allowed
    assert "fid" not in allowed and "lt_sample_cw" not in allowed and "w1_to_target" not in allowed


@pytest.mark.parametrize(
    ("spec", "metric", "ok"),
    [
        (GOOD, "fid", False),
        ({**GOOD, "evaluation": {"fid": {"samples": 100}}}, "fid", True),
        ({**GOOD, "evaluation": {"fid": {"samples": 100}}}, "gen_fid", True),
        (with_model(latent_trick={}), "lt_sample_cw", True),
        (with_model(latent_trick={}), "lt_fid", False),
        (GOOD, "lt_sample_cw", False),
        ({**GOOD, "optimizer": {"schedule": {"kind": "step", "every": 2}}}, "lr", True),
        (GOOD, "lr", False),
        ({"name": "x", "models": [{"family": "ae", "latent_dim": 5}]}, "cost", False),
        ({"name": "x", "models": [{"family": "ae", "latent_dim": 5}]}, "rec_error", True),
        ({"name": "x", "models": [{"family": "wae_gan"}]}, "train_disc_acc", True),
        (
            {
                "name": "x",
                "data": {"dataset": "gaussian_mixture"},
                "models": [{"family": "generator"}],
            },
            "w1_to_target",
            True,
        ),
    ],
)
def test_selection_metric_is_one_the_planned_trials_log(spec, metric, ok, write_spec) -> None:
    path = write_spec({**spec, "selection": {"metric": metric}})
    if ok:
        load_plan(path)
        return
    with pytest.raises(Exception, match=r"selection\.metric: ") as info:
        load_plan(path)
    assert "allowed: " in str(info.value)


def test_a_metric_only_some_trials_log_names_the_others(capsys, write_spec) -> None:
    spec = {
        "name": "x",
        "models": [{"family": "ae", "latent_trick": {}}, {"family": "cwae"}],
        "selection": {"metric": "lt_sample_cw"},
    }
    line = one_line(capsys, write_spec, spec)
    assert line.startswith("selection.metric: 'lt_sample_cw' is not logged by the trials of ")
    assert "models[1] (cwae)" in line and "models[0]" not in line


def test_the_generator_has_no_cost_to_select_by(capsys, write_spec) -> None:
    spec = {
        "name": "x",
        "data": {"dataset": "gaussian_mixture"},
        "models": [{"family": "generator"}],
    }
    line = one_line(capsys, write_spec, spec)
    assert line.startswith("selection.metric: unknown metric 'cost'; allowed: ")
    assert "w1_to_target" in line


# --- what the family and the data know of each other ----------------------------------------


def test_a_convolutional_architecture_needs_images(capsys, write_spec) -> None:
    spec = {
        "name": "x",
        "data": {"dataset": "gaussian_mixture"},
        "models": [{"family": "cwae", "architecture": "dcgan"}],
    }
    line = one_line(capsys, write_spec, spec)
    assert line == (
        "models[0].architecture: dcgan needs image data; data[0] (gaussian_mixture) is 1-D "
        "points, not images"
    )
    spec = {**spec, "models": [{"family": "cwae"}], "evaluation": {"fid": {}}}
    assert one_line(capsys, write_spec, spec).startswith("evaluation.fid: FID scores images")


def test_every_dataset_says_whether_it_is_images() -> None:
    for name in DATASETS:
        cls = DATASETS.get(name)
        assert isinstance(cls.images, bool) and cls.samples, name
    assert not DATASETS.get("gaussian_mixture").images and DATASETS.get("mnist").images


@pytest.mark.parametrize(
    ("data", "strategy", "expected"),
    [
        (
            {"dataset": "digits", "train_size": 50},
            {"kind": "minibatch", "batch_size": 64},
            "data[0].train_size x strategies[0].batch_size: 50 training samples, fewer than "
            "the 64 one step of minibatch takes",
        ),
        (
            {"dataset": "digits", "test_fraction": 0.9},
            {"kind": "moving_window", "window": 256, "fresh": 200},
            "data[0] x strategies[0].fresh: digits has 180 training samples",
        ),
        (
            {"dataset": "mnist", "train_size": 512},
            {"kind": "momentum_queue", "batch_size": [256, 1024]},
            "data[0].train_size x strategies[0].batch_size[1]: 512 training samples",
        ),
        (
            {"dataset": "celeba", "train_size": 100},
            {"kind": "moving_window", "window": 128, "fresh": 128},
            "data[0].train_size x strategies[0].fresh: 100 training samples",
        ),
    ],
)
def test_a_step_larger_than_the_training_split(data, strategy, expected, capsys, write_spec):
    family = "moca" if strategy["kind"] == "momentum_queue" else "cwae"
    spec = {"name": "x", "data": data, "models": [{"family": family}], "strategies": [strategy]}
    line = one_line(capsys, write_spec, spec)
    assert line.startswith(expected), line
    assert line.endswith("an epoch would train no step")


def test_training_sizes_known_without_loading() -> None:
    digits = DATASETS.get("digits")
    assert digits(test_fraction=0.2).train_size_bound() == 1_438
    assert digits(train_size=100).train_size_bound() == 100
    assert DATASETS.get("mnist")().train_size_bound() == 60_000
    assert DATASETS.get("fashion_mnist")(train_size=70_000).train_size_bound() == 60_000
    assert DATASETS.get("cifar10")().train_size_bound() == 50_000
    assert DATASETS.get("gaussian_mixture")(train_size=None).train_size_bound() == 10_000
    assert DATASETS.get("celeba")().train_size_bound() is None
    assert DATASETS.get("image_folder")(path="/x").train_size_bound() is None


def test_digits_training_size_is_what_the_loader_gives() -> None:
    from aesweep.data.loading import load_dataset

    for fraction in (0.2, 0.37):
        cfg = DATASETS.get("digits")(test_fraction=fraction)
        assert len(load_dataset(cfg).train) == cfg.train_size_bound()


def test_the_generator_samples_with_replacement_so_any_split_will_do(write_spec) -> None:
    spec = {
        "name": "x",
        "data": {"dataset": "gaussian_mixture", "train_size": 8},
        "models": [{"family": "generator"}],
        "strategies": [{"kind": "minibatch", "batch_size": 16}],
        "selection": {"metric": "w1_to_target"},
    }
    assert len(load_plan(write_spec(spec))[1]) == 1


# --- the leaf field and what is allowed there ----------------------------------------------


def _keys(cls: type) -> str:
    return ", ".join(sorted(i.alias or n for n, i in cls.model_fields.items()))


def test_a_schedule_typo_names_the_schedule_and_its_keys(capsys, write_spec) -> None:
    spec = {**GOOD, "optimizer": {"schedule": {"kind": "step", "step_size": 3}}}
    assert lines_of(capsys, write_spec, spec) == [
        "optimizer.schedule.every: required field is missing (epochs between two decays)",
        f"optimizer.schedule.step_size: unknown key; allowed: {_keys(StepSchedule)}",
    ]
    spec = {**GOOD, "optimizer": {"schedule": {"kind": "multistep", "milestone": [3]}}}
    lines = lines_of(capsys, write_spec, spec)
    assert (
        f"optimizer.schedule.milestone: unknown key; allowed: {_keys(MultiStepSchedule)}" in lines
    )


@pytest.mark.parametrize(
    ("spec", "path", "keys"),
    [
        (
            {**GOOD, "evaluation": {"fid": {"n_samples": 3}}},
            "evaluation.fid.n_samples",
            "batch_size, cache_dir, every, samples, split, weights",
        ),
        (
            {"name": "x", "models": [{"family": "wae_gan", "discriminator": {"depth": 3}}]},
            "models[0].discriminator.depth",
            "betas, layers, lr, width",
        ),
        (
            with_model(latent_trick={"epoch": 3}),
            "models[0].latent_trick.epoch",
            "batch_size, epochs, hidden, layers, lr, noise_dim",
        ),
        (
            {**GOOD, "data": [{"dataset": "digits"}, {"dataset": "mnist", "rooot": "x"}]},
            "data[1].rooot",
            _keys(DATASETS.get("mnist")),
        ),
    ],
)
def test_unknown_keys_list_the_keys_of_the_class_that_owns_them(
    spec, path, keys, capsys, write_spec
) -> None:
    assert one_line(capsys, write_spec, spec) == f"{path}: unknown key; allowed: {keys}"


@pytest.mark.parametrize(("section", "registry"), [("models", MODELS), ("strategies", STRATEGIES)])
def test_every_entry_lists_its_own_keys(section, registry, capsys, write_spec) -> None:
    tag = {"models": "family", "strategies": "kind"}[section]
    for name in registry:
        spec = {**GOOD, section: [{tag: name, "bogus_key": 1}]}
        line = lines_of(capsys, write_spec, spec)[0]
        assert line == f"{section}[0].bogus_key: unknown key; allowed: {_keys(registry.get(name))}"


def test_a_missing_tag_lists_the_names_allowed(capsys, write_spec) -> None:
    line = one_line(capsys, write_spec, {**GOOD, "models": [{"latent_dim": 8}]})
    assert line == f"models[0].family: required field is missing; allowed: {', '.join(MODELS)}"


def test_model_level_rules_name_their_field(capsys, write_spec) -> None:
    line = one_line(capsys, write_spec, with_model(latent_dim=4))
    assert line.startswith("models[0].latent_dim: the closed-form Cramér-Wold distance needs")
    spec = {**GOOD, "optimizer": {"schedule": {"kind": "multistep", "milestones": [3, 5]}}}
    spec["optimizer"]["schedule"]["factors"] = [0.5]
    line = one_line(capsys, write_spec, spec)
    assert line.startswith("optimizer.schedule.factors: milestones and factors need the same")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            with_model(latent_trick=5),
            "models[0].latent_trick: expected a mapping (key: value), got a number",
        ),
        ({**GOOD, "optimizer": ["adam"]}, "optimizer: expected a mapping (key: value), got a list"),
        ({**GOOD, "evaluation": {"fid": True}}, "evaluation.fid: expected a mapping (key: value)"),
        ({**GOOD, "models": [3]}, "models[0]: expected a mapping (key: value), got a number"),
        ({**GOOD, "models": {"family": "cwae"}}, "models: expected a list, got a mapping"),
        ({**GOOD, "optimizer": {"betas": 0.5}}, "optimizer.betas: expected a list, got a number"),
    ],
)
def test_no_internal_class_names(spec, expected, capsys, write_spec) -> None:
    line = one_line(capsys, write_spec, spec)
    assert line.startswith(expected), line
    assert "Config" not in line and "Grid" not in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "models: [{family: cw\u0430e}]",
            "models[0].family: unknown family 'cw\\u0430e'; allowed: ",
        ),
        (
            "models: [{family: cwae, architecture: ml\u0440}]",
            "models[0].architecture: unknown architecture 'ml\\u0440'; allowed: ",
        ),
        (
            "models: [{family: cwae, l\u0430mbda: 1}]",
            "models[0].l\\u0430mbda: unknown key; allowed: ",
        ),
        ("models: [{family: moca, prior: sph\u0435re}]", "(got 'sph\\u0435re')"),
    ],
)
def test_look_alike_characters_are_shown_escaped(text, expected, capsys, write_spec) -> None:
    assert expected in one_line(capsys, write_spec, f"name: x\n{text}\n")


def test_missing_data_names_the_field(tmp_path: Path, write_spec) -> None:
    spec = load_spec(
        write_spec(
            {
                **GOOD,
                "data": [
                    {"dataset": "mnist", "root": str(tmp_path)},
                    {"dataset": "image_folder", "path": str(tmp_path / "none")},
                    {"dataset": "cifar10", "root": str(tmp_path)},
                ],
            }
        )
    )
    problems = check_data(spec)
    assert problems[0].startswith("data[0].root: MNIST not found in ")
    assert problems[1].startswith("data[1].path: no folder ")
    assert problems[2].startswith("data[2].root: CIFAR-10 not found in ")
    assert all(isinstance(DATASETS.get(n).location_field, str) for n in DATASETS)
    assert DataConfig.location_field == "root"


# --- the same class of problem elsewhere ----------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({**GOOD, "epochs": True}, "epochs: Input should be a number, not true/false"),
        (with_model(latent_dim=True), "models[0].latent_dim: Input should be a number, not"),
        ({**GOOD, "seeds": [0, False]}, "seeds[1]: Input should be a number, not true/false"),
        (
            {**GOOD, "data": {"dataset": "celeba", "channels": True}},
            "data.channels: Input should be a number, not true/false",
        ),
        ({**GOOD, "compute": {"amp": 1}}, "compute.amp: Input should be a valid boolean (got 1)"),
        (
            {**GOOD, "evaluation": {"images": "no"}},
            "evaluation.images: Input should be a valid boolean (got 'no')",
        ),
        ({**GOOD, "tracking": {"uri": ""}}, "tracking.uri: String should have at least 1 char"),
        ({**GOOD, "tracking": {"storage": ""}}, "tracking.storage: String should have at least"),
        ({**GOOD, "tracking": {"experiment": ""}}, "tracking.experiment: String should have"),
        (
            {**GOOD, "tracking": {"system_metrics": "sometimes"}},
            "tracking.system_metrics: Input should be a valid boolean (got 'sometimes')",
        ),
        (
            {**GOOD, "tracking": {"system_metrics_interval": 0}},
            "tracking.system_metrics_interval: Input should be greater than 0",
        ),
        ({**GOOD, "data": {"dataset": "mnist", "root": ""}}, "data.root: String should have"),
        (
            {**GOOD, "data": {"dataset": "image_folder", "path": ""}},
            "data.path: String should have at least 1 character",
        ),
        (
            {**GOOD, "evaluation": {"fid": {"weights": ""}}},
            "evaluation.fid.weights: String should have at least 1 character",
        ),
        (
            {"name": "x", "models": [{"family": "wae_mmd", "scales": [1.0, 0.0]}]},
            "models[0].scales[1]: Input should be greater than 0",
        ),
        (
            {**GOOD, "resources": {"gpus_per_trial": "x"}},
            "resources.gpus_per_trial: Input should be a valid number, unable to parse string "
            "as a number or 'auto' (got 'x')",
        ),
    ],
)
def test_more_input_that_used_to_pass_or_confuse(spec, expected, capsys, write_spec) -> None:
    assert one_line(capsys, write_spec, spec).startswith(expected)


def test_valid_specs_keep_their_values(write_spec) -> None:
    spec = load_spec(write_spec({**GOOD, "optimizer": {"lr": "1e-3"}, "compute": {"amp": True}}))
    assert spec.optimizer.lr == [0.001] and spec.compute.amp is True
    spec = load_spec(write_spec({**GOOD, "models": [{"family": "cwae", "latent_dim": 8.0}]}))
    assert spec.models[0].latent_dim == [8]


# --- the networks' initialisation and WAE's encoder options ----------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"init": {"kind": "normal"}}, "models[0].init.std: required field is missing"),
        ({"init": {"kind": "lecun"}}, "models[0].init.kind: unknown kind 'lecun'; allowed: "),
        ({"init": {"kind": "glorot_uniform", "std": 1}}, "models[0].init.std: unknown key"),
        (
            {"init": {"kind": "normal", "std": 0.1, "truncated": ["dense"]}},
            "models[0].init.truncated[0]: Input should be 'linear', 'conv' or 'conv_transpose'",
        ),
        ({"e_add_noise": 0.01}, "models[0].e_add_noise: unknown key"),  # WAE families only
    ],
)
def test_a_bad_init_or_encoder_option_names_its_field(fields, expected, capsys, write_spec) -> None:
    assert one_line(capsys, write_spec, with_model(**fields)).startswith(expected)


def test_wae_encoder_options_name_their_field(capsys, write_spec) -> None:
    spec = {**GOOD, "models": [{"family": "wae_mmd", "e_pretrain": {"sample_size": 1}}]}
    line = one_line(capsys, write_spec, spec)
    assert line.startswith("models[0].e_pretrain.sample_size: Input should be greater than 1")
