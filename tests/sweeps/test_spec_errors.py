"""Bad input: one line per problem naming the field path and what is allowed, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from aesweep.sweeps.cli import main

GOOD = {
    "name": "ok",
    "models": [{"family": "cwae", "latent_dim": 8}],
    "optimizer": {"lr": [0.01]},
}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [line for line in err.splitlines() if line], out


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_every_command_rejects_a_bad_spec_without_starting(
    command: str, write_spec, capsys, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_spec({**GOOD, "modls": []})
    code, lines, out = run_cli(capsys, command, str(path))
    assert code == 2
    assert len(lines) == 1 and "modls: unknown key; allowed: " in lines[0]
    assert "models" in lines[0].split("allowed:")[1]
    assert not (tmp_path / "mlflow.db").exists(), "nothing may start on a bad spec"
    assert out == ""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"models": [{"family": "cwae", "lamda": 1}]}, "models[0].lamda: unknown key; allowed: "),
        (
            {"models": [{"family": "vae"}]},
            "models[0].family: unknown family 'vae'; allowed: ae, cw2, cwae",
        ),
        (
            {"strategies": [{"kind": "nope"}]},
            "strategies[0].kind: unknown kind 'nope'; allowed: minibatch",
        ),
        (
            {"data": {"dataset": "imagenet"}},
            "data.dataset: unknown dataset 'imagenet'; allowed: celeba, cifar10, digits, "
            "fashion_mnist, gaussian_mixture, image_folder, mnist",
        ),
        ({"epochs": "many"}, "epochs: Input should be a valid integer"),
        ({"models": [{"family": "cwae", "latent_dim": 8.5}]}, "models[0].latent_dim: "),
        ({"optimizer": {"lr": [0.01, -0.1]}}, "optimizer.lr[1]: Input should be greater than 0"),
        ({"optimizer": {"lr": 0}}, "optimizer.lr: Input should be greater than 0"),
        ({"optimizer": {"lr": []}}, "optimizer.lr: must not be empty"),
        ({"seeds": []}, "seeds: must not be empty"),
        ({"models": []}, "models: must not be empty"),
        (
            {"models": [{"family": "cwae", "latent_dim": [4, 8]}]},
            "models[0].latent_dim[0]: the closed-form Cramér-Wold distance needs latent_dim >= 8",
        ),
    ],
)
def test_each_bad_field_names_its_path(change, expected, write_spec, capsys) -> None:
    path = write_spec({**GOOD, **change})
    code, lines, _ = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: ")
    assert expected in lines[0]


def test_several_problems_give_one_line_each(write_spec, capsys) -> None:
    path = write_spec(
        {"name": "x", "models": [{"family": "ae", "widht": 2}], "optimizer": {"lr": -1}, "bogus": 1}
    )
    code, lines, _ = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert len(lines) == 3
    assert any("models[0].widht" in ln for ln in lines)
    assert any("optimizer.lr" in ln for ln in lines)
    assert any("bogus: unknown key" in ln for ln in lines)


def test_yaml_syntax_error_names_line_and_column(write_spec, capsys) -> None:
    path = write_spec("name: x\nmodels:\n  - {family: ae\noptimizer: {lr: 0.1}\n")
    code, lines, _ = run_cli(capsys, "validate", str(path))
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"{path}:4:") and "YAML syntax error" in lines[0]


def test_missing_file(capsys, tmp_path: Path) -> None:
    code, lines, _ = run_cli(capsys, "plan", str(tmp_path / "nope.yaml"))
    assert code == 2 and lines == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_a_spec_must_be_a_mapping(write_spec, capsys) -> None:
    code, lines, _ = run_cli(capsys, "validate", str(write_spec("- just\n- a list\n")))
    assert code == 2 and "a spec is a YAML mapping" in lines[0]


def test_set_override_is_validated_like_the_file(write_spec, capsys) -> None:
    path = write_spec(GOOD)
    code, lines, _ = run_cli(capsys, "validate", str(path), "--set", "optimizer.lr=[0.1, -2]")
    assert code == 2 and len(lines) == 1 and "optimizer.lr[1]" in lines[0]
    code, lines, _ = run_cli(capsys, "validate", str(path), "--set", "models.3.lambda=1")
    assert code == 2 and lines[0].startswith("--set models.3.lambda:")
    code, lines, _ = run_cli(capsys, "validate", str(path), "--set", "epochs")
    assert code == 2 and "expected key.path=value" in lines[0]


def test_bad_max_concurrent_is_bad_input(write_spec, capsys) -> None:
    code, lines, _ = run_cli(capsys, "run", str(write_spec(GOOD)), "--max-concurrent", "0")
    assert code == 2 and "--max-concurrent" in lines[0]
