"""The papers' published tables as data files (aesweep/sweeps/papers/*.yaml, read by
aesweep.sweeps.paper_tables): spot values as the papers print them, every table complete,
every number with its source, a damaged file refused naming it, and the files shipped as
package data."""

from __future__ import annotations

import fnmatch
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from aesweep.sweeps.paper_tables import DATA, load_papers
from aesweep.sweeps.published import MOW_TABLES, PAPER_PROTOCOLS, PUBLISHED
from tests.conftest import REPO

# Typed from the papers' text: MoW Table 1 (MNIST, WAE), LCW Table 3 (MNIST), MoCA Table 1,
# WAE Table 1 (CelebA).
MOW_TABLE_1_MNIST_WAE = {
    64: (0.01, 0.026, 0.009, 5.495, 5.503, 48.491),
    1: (0.0025, 0.154, 0.306, 4.894, 5.200, 54.753),
}
FID = {
    ("LCW (paper 002)", "Table 3", "SW-Generator"): 17.85,
    ("LCW (paper 002)", "Table 3", "LCW generator"): 14.92,
    ("MoCA (paper 003)", "Table 1", "MoCA (ResNet-18)"): 54.36,
    ("MoCA (paper 003)", "Table 1", "MoCA (latent 128)"): 44.59,
    ("WAE (paper 004)", "Table 1", "WAE-MMD"): 55,
    ("WAE (paper 004)", "Table 1", "WAE-GAN"): 42,
}


def test_spot_values_are_the_papers() -> None:
    mnist = MOW_TABLES[("Table 1", "mnist", "wae_mmd", "WAE")]
    for k, printed in MOW_TABLE_1_MNIST_WAE.items():
        assert mnist[k] == pytest.approx(printed, abs=1e-12)
    for (paper, table, name), value in FID.items():
        (entry,) = [
            e for e in PUBLISHED if e.paper == paper and e.table == table and name in e.source
        ]
        assert entry.value == value and entry.metric in ("fid", "lt_fid")


def test_every_table_is_complete() -> None:
    papers = load_papers()
    assert {p.paper for p in papers} == {
        "MoW",
        "LCW (paper 002)",
        "MoCA (paper 003)",
        "WAE (paper 004)",
    }
    for paper in papers:
        for table in paper.tables:
            assert table.rows, (paper.paper, table.table)
            assert all(len(r.values) == len(table.columns) for r in table.rows)
            rows = Counter((r.dataset, r.model, r.name, r.window) for r in table.rows)
            assert max(rows.values()) == 1, (paper.paper, table.table)  # no row twice
    mow = next(p for p in papers if p.paper == "MoW")
    assert [t.table for t in mow.tables] == ["Table 1", "Table 2", "Table 3", "Table 4"]
    for table in mow.tables:  # three models or datasets, each at n = 64 and k = 64, 32, 1
        by_block = Counter((r.dataset, r.model) for r in table.rows)
        assert len(by_block) == 3 and set(by_block.values()) == {3}
        assert {r.window for r in table.rows} == {(64, 64), (64, 32), (64, 1)}
    assert set(PAPER_PROTOCOLS) == {p.paper for p in papers}


def test_every_number_keeps_its_source() -> None:
    """Paper, table and row: one number per (source, metric), each citing its paper and table."""
    papers = {p.paper: p for p in load_papers()}
    for e in PUBLISHED:
        cite = papers[e.paper].cite or e.paper
        assert e.source.startswith(f"{cite} {e.table}: ")
        assert any(e.source.endswith(r.row) for t in papers[e.paper].tables for r in t.rows)
    assert max(Counter((e.source, e.metric) for e in PUBLISHED).values()) == 1
    # a column compared as nothing (MoW Table 2's cost) gives no number; every other does
    compared = sum(
        sum(t.metric(r, c) is not None for r in t.rows for c in t.columns)
        for p in papers.values()
        for t in p.tables
    )
    assert compared == len(PUBLISHED)
    assert not any(
        e.table == "Table 2" and "cost" in e.metric for e in PUBLISHED if e.paper == "MoW"
    )


def test_a_damaged_file_is_refused_naming_it(tmp_path: Path) -> None:
    text = (Path(str(DATA)) / "004_wae.yaml").read_text()
    assert "values: [55]" in text
    (tmp_path / "bad.yaml").write_text(text.replace("values: [55]", "values: [55, 1]"))
    with pytest.raises(ValueError, match=r"bad\.yaml: .*Table 1, CelebA, WAE-MMD, FID: 2 values"):
        load_papers(tmp_path)


def test_the_files_ship_as_package_data() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["aesweep"]
    package = REPO / "aesweep"
    files = sorted(p.relative_to(package).as_posix() for p in Path(str(DATA)).iterdir())
    assert files and all(f.endswith(".yaml") for f in files)
    assert all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files)
