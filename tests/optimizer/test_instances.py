"""OR-Library p-median reader and published optima."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from optimizer import siting
from optimizer.errors import SpecificationError
from optimizer.instances import read_orlib_pmed

PMED = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "pmed"


def published_optima() -> dict[str, int]:
    text = (PMED / "README.md").read_text()
    return {
        m[0]: int(m[1])
        for m in re.findall(r"\|\s*(pmed\d+)\.txt\s*\|[^|]*\|[^|]*\|[^|]*\|\s*(\d+)\s*\|", text)
    }


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(text)
    return path


def test_duplicate_edge_last_occurrence_wins(tmp_path):
    # Path 1-2-3-4; edge (2,3) given three times (once reversed); the last says 7.
    path = write(tmp_path, " 4 5 2\n 1 2 10\n 2 3 1\n 3 4 5\n 3 2 50\n 2 3 7\n")
    inst = read_orlib_pmed(path)
    assert (inst.n, inst.p, inst.name) == (4, 2, "tiny")
    expected = np.array(
        [[0, 10, 17, 22], [10, 0, 7, 12], [17, 7, 0, 5], [22, 12, 5, 0]], dtype=float
    )
    np.testing.assert_array_equal(inst.cost, expected)
    assert len(inst.edges) == 3


def test_duplicate_edge_last_wins_even_when_longer(tmp_path):
    # First (1,2) = 1, then (2,1) = 9: the later, longer one is used.
    path = write(tmp_path, "3 3 1\n1 2 1\n2 3 1\n2 1 9\n")
    inst = read_orlib_pmed(path)
    assert inst.cost[0, 1] == 9 and inst.cost[0, 2] == 10


def test_zero_length_edge_is_kept(tmp_path):
    path = write(tmp_path, "3 2 1\n1 2 0\n2 3 4\n")
    np.testing.assert_array_equal(read_orlib_pmed(path).cost[0], [0, 0, 4])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3 2\n", "missing header"),
        ("3 2 1\n1 2 4\n", "header announces 2 edges"),
        ("3 1 1\n1 4 4\n", "outside 1..3"),
        ("3 1 1\n1 2 -4\n", "negative"),
        ("3 1 1\n1 2 4\n", "disconnected"),
        ("3 1 1\n1 2 x\n", "non-integer"),
    ],
)
def test_malformed_files_raise(tmp_path, text, reason):
    with pytest.raises(SpecificationError, match=reason):
        read_orlib_pmed(write(tmp_path, text))


def test_pmed1_matrix_shape():
    inst = read_orlib_pmed(PMED / "pmed1.txt")
    assert inst.cost.shape == (100, 100) and inst.p == 5
    assert (np.diag(inst.cost) == 0).all()
    np.testing.assert_array_equal(inst.cost, inst.cost.T)


@pytest.mark.parametrize("name", ["pmed1", "pmed2", "pmed5", "pmed6"])
def test_published_optimum_is_reached_and_proven(name):
    inst = read_orlib_pmed(PMED / f"{name}.txt")
    result = siting.p_median(inst.cost, inst.p, time_limit=60.0)
    assert result.objective == published_optima()[name]
    assert result.optimal and result.bound == result.objective and result.gap == 0.0
    assert len(result.open_sites) == inst.p
