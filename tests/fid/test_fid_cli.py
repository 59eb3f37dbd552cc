"""``aesweep fid A B``: folders, dataset splits and .npz statistics agree; bad sources exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aesweep.data.config import DigitsConfig
from aesweep.fid.features import quantize
from aesweep.fid.stats import GaussianStats, split_images
from aesweep.sweeps.cli import main
from tests.fid.conftest import N_IMAGES


def _dataset_args(ref) -> list[str]:  # type: ignore[no-untyped-def]
    source = f"{ref.data_cfg.dataset}:test"
    root = getattr(ref.data_cfg, "root", None)
    return [source, *(["--data-root", root] if root else [])]


def _fid_value(out: str) -> float:
    match = re.search(r"^FID (\S+)", out, re.MULTILINE)
    assert match, out
    return float(match.group(1))


@pytest.mark.fid
def test_png_folder_of_the_test_split_scores_zero_against_it(
    fid_extractor,
    tmp_path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    from PIL import Image

    pixels = quantize(split_images(DigitsConfig(), "test")[:4])  # digits: loads in no time
    folder = tmp_path / "samples"
    (folder / "more").mkdir(parents=True)
    for i, image in enumerate(pixels[:, 0].numpy()):
        Image.fromarray(image).save(folder / ("more" if i == 3 else "") / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    common = ["--samples", "4", "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]

    rc = main(["fid", str(folder), "digits:test", *common])

    out = capsys.readouterr().out
    assert rc == 0
    assert _fid_value(out) < 1e-3
    assert out.count("n=4") == 2


@pytest.mark.fid
def test_save_stats_reuses_the_cache_and_npz_sources_score(
    fid_reference,
    tmp_path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    saved = tmp_path / "ref.npz"
    common = ["--samples", str(N_IMAGES), "--cache-dir", str(fid_reference.cache_dir)]
    rc = main(["fid", *_dataset_args(fid_reference), *common, "--save-stats", str(saved)])
    assert rc == 0
    stats = GaussianStats.load_npz(saved)
    np.testing.assert_array_equal(stats.sigma, fid_reference.stats.sigma)
    assert stats.n == N_IMAGES

    # pytorch-fid's layout (mu, sigma only); diagonal covariances have a closed-form FID
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([4.0, 1.0, 9.0, 0.25])
    np.savez(tmp_path / "a.npz", mu=np.zeros(4), sigma=np.diag(a))
    np.savez(tmp_path / "b.npz", mu=np.full(4, 0.5), sigma=np.diag(b))
    capsys.readouterr()
    assert main(["fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 0
    expected = 4 * 0.25 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert _fid_value(capsys.readouterr().out) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nonsense", "unknown FID source"),
        ("no/such/folder/", "unknown FID source"),
        ("missing.npz", "no such statistics file"),
        ("digits", "name a split"),
        ("digits:valid", "name a split"),
        ("image_folder:test", "has no default location; give its folder of images instead"),
    ],
)
def test_bad_source_is_one_line_and_exit_2(source: str, message: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["fid", source, "digits:test", "--samples", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_dataset_absent_from_data_root_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["fid", "celeba:test", "digits:test", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "celeba:test: CelebA not found" in err and "\n" not in err


def test_not_stats_npz_and_lonely_source(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.npz"
    np.savez(bad, features=np.zeros(3))
    assert main(["fid", str(bad), str(bad)]) == 2
    assert "not FID statistics" in capsys.readouterr().err
    assert main(["fid", "digits:test"]) == 2
    assert "--save-stats" in capsys.readouterr().err


def test_fid_help_imports_no_torch() -> None:
    code = (
        "import sys\nfrom aesweep.sweeps.cli import main\n"
        "try:\n    main(['fid', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--save-stats" in out.stdout
    assert out.stdout.strip().endswith("False")


def test_a_dataset_that_is_not_images_is_refused(fid_extractor, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["gaussian_mixture:test", "digits:test", "--cache-dir", str(tmp_path), "--device", "cpu"]
    assert main(["fid", *args]) == 2
    assert "needs an image dataset" in capsys.readouterr().err
