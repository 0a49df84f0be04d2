"""Grid codes: parse hierarchical codes and number grids, workers and cases.

Grid codes follow DOMAIN.md §2: a 14-digit CJ/T 213 style code is 6 admin (GB/T 2260) + 3 street
+ 3 community + 2 grid sequence digits (``"00"`` = the community-level cell); Beijing's DB11 style
uses 3 sequence digits (15 digits). Roll-ups are prefixes: the first 12 digits name the community,
the first 9 the street, the first 6 the county-level division.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from gridmap.errors import ValidationError

__all__ = [
    "COMMUNITY_CODE",
    "GridCode",
    "hierarchical_codes",
    "is_community_cell",
    "numbered_codes",
    "parse_grid_code",
]

#: A 12-digit community code (admin + street + community).
COMMUNITY_CODE = re.compile(r"[0-9]{12}")
_HIER = re.compile(r"[0-9]{14,15}")


@dataclass(frozen=True)
class GridCode:
    """A parsed hierarchical grid code (14-digit CJ/T 213 style or 15-digit Beijing DB11 style)."""

    admin: str
    street: str
    community: str
    seq: str
    profile: Literal["14", "15"]

    @property
    def community_code(self) -> str:
        """The 12-digit community prefix (admin + street + community)."""
        return self.admin + self.street + self.community

    @property
    def street_code(self) -> str:
        """The 9-digit street prefix (admin + street)."""
        return self.admin + self.street


def parse_grid_code(code: str) -> GridCode | None:
    """Split a hierarchical grid code into its parts.

    Parameters
    ----------
    code : str
        A grid code.

    Returns
    -------
    GridCode or None
        The parts of a 14- or 15-digit code; ``None`` for any other (free-form) code.

    Examples
    --------
    >>> parse_grid_code("11010100100101")
    GridCode(admin='110101', street='001', community='001', seq='01', profile='14')
    >>> parse_grid_code("G0001") is None
    True
    """
    if not isinstance(code, str) or not _HIER.fullmatch(code):
        return None
    profile: Literal["14", "15"] = "14" if len(code) == 14 else "15"
    return GridCode(code[:6], code[6:9], code[9:12], code[12:], profile)


def is_community_cell(code: str) -> bool:
    """Return True for a 14-digit code whose sequence is ``"00"`` (the community-level cell)."""
    parsed = parse_grid_code(code)
    return parsed is not None and parsed.profile == "14" and parsed.seq == "00"


def numbered_codes(prefix: str, count: int, width: int = 4) -> NDArray[np.object_]:
    """Return ``prefix`` + 1..``count``, zero-padded to at least ``width`` digits.

    Examples
    --------
    >>> numbered_codes("G", 3).tolist()
    ['G0001', 'G0002', 'G0003']
    """
    digits = max(width, len(str(count)))
    return np.array([f"{prefix}{i:0{digits}d}" for i in range(1, count + 1)], dtype=object)


def hierarchical_codes(owner: NDArray[np.intp], communities: list[str]) -> NDArray[np.object_]:
    """Return community code + sequence for cells sorted by community (``owner``, an index).

    Sequences run from 1 within each community, with 2 digits (14-digit codes, CJ/T 213 style);
    a community of more than 99 cells gets 3 digits (15-digit codes, Beijing DB11 style) and a
    warning for the caller of the caller.

    Raises
    ------
    gridmap.errors.ValidationError
        If a community would need more than 999 cells.
    """
    counts = np.bincount(owner, minlength=len(communities))
    too_many = [c for c, n in zip(communities, counts, strict=True) if n > 999]
    if too_many:
        raise ValidationError(f"communities needing more than 999 cells: {too_many[:5]!r}")
    long = [c for c, n in zip(communities, counts, strict=True) if n > 99]
    if long:
        warnings.warn(
            f"{len(long)} communit{'y needs' if len(long) == 1 else 'ies need'} more than 99 "
            f"cells and get 15-digit codes with 3-digit sequences (Beijing DB11 style): {long}",
            UserWarning,
            stacklevel=3,
        )
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    seq = np.arange(len(owner)) - starts[owner] + 1
    width = np.where(counts > 99, 3, 2)[owner]
    return np.array(
        [f"{communities[o]}{s:0{w}d}" for o, s, w in zip(owner, seq, width, strict=True)],
        dtype=object,
    )
