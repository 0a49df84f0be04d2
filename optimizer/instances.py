"""Benchmark instance readers (OR-Library p-median)."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

from optimizer.errors import SpecificationError
from optimizer.solomon import VRPTWInstance, read_solomon

__all__ = ["PMedianInstance", "VRPTWInstance", "read_orlib_pmed", "read_solomon"]

__all__ = ["PMedianInstance", "read_orlib_pmed"]


@dataclass(frozen=True)
class PMedianInstance:
    """An uncapacitated p-median instance on a graph.

    Attributes
    ----------
    name : str
        Instance name (file stem, e.g. ``"pmed1"``).
    n : int
        Number of nodes; every node is a demand point (weight 1) and a
        candidate site.
    p : int
        Number of medians to open.
    cost : numpy.ndarray
        ``(n, n)`` float64 matrix of all-pairs shortest-path lengths; rows are
        demand points, columns candidate sites (symmetric here).
    edges : numpy.ndarray
        ``(m', 3)`` int64 array ``(i, j, length)`` of the distinct undirected
        edges actually used (0-based, ``i < j``), after duplicate resolution.
    """

    name: str
    n: int
    p: int
    cost: np.ndarray
    edges: np.ndarray


def read_orlib_pmed(path: str | PathLike[str]) -> PMedianInstance:
    """Read an OR-Library ``pmedN.txt`` file and build its distance matrix.

    The format is a header line ``n m p`` followed by ``m`` lines ``i j c``
    (1-based endpoints, integer length) of undirected edges. Some files repeat
    an edge with a different length; as OR-Library specifies, the **last**
    occurrence in the file wins (``(i, j)`` and ``(j, i)`` are the same edge).
    The all-pairs shortest-path matrix is computed with
    :func:`scipy.sparse.csgraph.shortest_path` (Dijkstra).

    Parameters
    ----------
    path : str or path-like
        The instance file.

    Returns
    -------
    PMedianInstance
        The instance with its ``(n, n)`` cost matrix and ``p``.

    Raises
    ------
    SpecificationError
        If the file is malformed, an endpoint is out of range, a length is
        negative, or the graph is disconnected (some distance is infinite).
    """
    path = Path(path)
    tokens = path.read_text().split()
    if len(tokens) < 3:
        raise SpecificationError(f"{path}: missing header line 'n m p'")
    try:
        values = np.array([int(t) for t in tokens], dtype=np.int64)
    except ValueError as exc:
        raise SpecificationError(f"{path}: non-integer token ({exc})") from None
    n, m, p = (int(v) for v in values[:3])
    body = values[3:]
    if body.size != 3 * m:
        raise SpecificationError(
            f"{path}: header announces {m} edges but the file holds {body.size / 3:g}"
        )
    triples = body.reshape(m, 3)
    ends = triples[:, :2] - 1
    if ends.size and (ends.min() < 0 or ends.max() >= n):
        raise SpecificationError(f"{path}: an edge endpoint is outside 1..{n}")
    if (triples[:, 2] < 0).any():
        raise SpecificationError(f"{path}: negative edge length")

    # Last occurrence wins: scan the reversed edge list and keep first hits.
    lo = np.minimum(ends[:, 0], ends[:, 1])
    hi = np.maximum(ends[:, 0], ends[:, 1])
    keys = lo * n + hi
    _, first_in_reversed = np.unique(keys[::-1], return_index=True)
    keep = np.sort(m - 1 - first_in_reversed)
    keep = keep[lo[keep] != hi[keep]]  # self-loops never shorten a path
    edges = np.column_stack([lo[keep], hi[keep], triples[keep, 2]])

    # A zero-length edge would read as "no edge" in a sparse matrix: store it as
    # a tiny positive length and round the (integer) distances back afterwards.
    lengths = edges[:, 2].astype(np.float64)
    tiny = 1e-9
    graph = coo_matrix(
        (np.where(lengths == 0, tiny, lengths), (edges[:, 0], edges[:, 1])), shape=(n, n)
    ).tocsr()
    cost = shortest_path(graph, method="D", directed=False)
    if not np.isfinite(cost).all():
        raise SpecificationError(f"{path}: the graph is disconnected")
    if (lengths == 0).any():
        cost = np.round(cost)  # integer lengths: remove the tiny stand-ins
    return PMedianInstance(name=path.stem, n=n, p=p, cost=cost, edges=edges)
