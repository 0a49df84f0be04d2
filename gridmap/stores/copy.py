"""Copy a whole store into another (GeoPackage <-> PostGIS): every layer, the history, metadata.

Rows are copied as stored, derived fields included (grid codes, deadlines, versions), through
the backends' own write primitives; the rows were checked when they entered the source, and the
target's schema checks them again. The target is written in one transaction and verified by
counts before it commits, so a failed copy leaves it as it was.
"""

from __future__ import annotations

from typing import Any

from gridmap.errors import ConflictError, StoreError
from gridmap.model import LAYERS
from gridmap.stores.base import BaseStore, Progress

HISTORY = "incident_history"


def _as_base(store: Any, role: str) -> BaseStore:
    if not isinstance(store, BaseStore):
        raise StoreError(f"cannot copy {role} {store!r}: not a GridMap store of this version")
    return store


def copy_store(
    source: Any, target: Any, *, progress: Progress | None = None, replace: bool = False
) -> dict[str, int]:
    """Copy every layer, the incident history and the layer metadata of ``source`` to ``target``.

    Parameters
    ----------
    source, target : Store
        Open stores (any backends). They must be different stores.
    progress : callable, optional
        Called with the number of rows written after each step.
    replace : bool
        Replace the target's rows; without it a target holding any row is refused.

    Returns
    -------
    dict
        Rows copied per layer, and ``incident_history`` for the recorded transitions.

    Raises
    ------
    ConflictError
        If the target holds rows and ``replace`` is false.
    StoreError
        If source and target are the same store, or the counts differ after the copy (then
        nothing is kept).
    """
    src, dst = _as_base(source, "from"), _as_base(target, "to")
    if src.url == dst.url:
        raise StoreError(f"cannot copy {src.url} onto itself")
    with src._transaction() as stx:
        frames = {
            name: src._select(stx, spec, None, None, None, 0) for name, spec in LAYERS.items()
        }
        history = src._history(stx, None)
    infos = {name: src.layer_info(name) for name in LAYERS}
    counts = {name: len(frame) for name, frame in frames.items()} | {HISTORY: len(history)}
    with dst._transaction() as ttx:
        held = {name: dst._count(ttx, spec, None, None) for name, spec in LAYERS.items()}
        if any(held.values()) and not replace:
            filled = ", ".join(f"{name} {n}" for name, n in held.items() if n)
            raise ConflictError(
                f"{dst.url} is not empty ({filled}); copy with replace=True (`--replace`) to overwrite it"
            )
        for name, spec in LAYERS.items():
            dst._clear(ttx, spec)
            dst._write(ttx, spec, frames[name], None)
            if progress is not None:
                progress(len(frames[name]))
        if len(history):
            dst._append_history(ttx, history)
            if progress is not None:
                progress(len(history))
        for name, info in infos.items():
            dst.set_layer_info(name, description=info.description, simulated=info.simulated)
        written = {name: dst._count(ttx, spec, None, None) for name, spec in LAYERS.items()}
        written[HISTORY] = len(dst._history(ttx, None))
        if written != counts:
            wrong = [f"{k} {counts[k]} -> {written[k]}" for k in counts if written[k] != counts[k]]
            raise StoreError(f"copy to {dst.url} lost rows ({'; '.join(wrong)}); nothing kept")
    return counts
