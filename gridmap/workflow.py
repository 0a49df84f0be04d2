"""The case workflow: 受理 → 立案 → 派遣 → 处置 → 反馈/核查 → 结案, with its side transitions.

One table says which action moves a case from which state to which; everything that changes an
incident's status goes through :func:`next_status`.
"""

from __future__ import annotations

from gridmap.errors import ConflictError

#: state -> (zh, en); the order is the normal life of a case.
STATES: dict[str, tuple[str, str]] = {
    "received": ("受理", "Received"),
    "registered": ("立案", "Registered"),
    "rejected": ("注销", "Rejected"),
    "dispatched": ("派遣", "Dispatched"),
    "handling": ("处置", "Handling"),
    "resolved": ("核查", "Awaiting check"),
    "closed": ("结案", "Closed"),
}

OPEN_STATES = ("received", "registered", "dispatched", "handling", "resolved")
FINAL_STATES = ("rejected", "closed")

#: action -> (states it applies to, resulting state); None keeps the state (extension).
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "register": (("received",), "registered"),
    "reject": (("received",), "rejected"),
    "dispatch": (("registered", "dispatched"), "dispatched"),
    "return": (("dispatched", "handling"), "registered"),
    "accept": (("dispatched",), "handling"),
    "extend": (("dispatched", "handling"), None),
    "resolve": (("handling",), "resolved"),
    "close": (("resolved",), "closed"),
    "rework": (("resolved",), "handling"),
}


def allowed_actions(status: str) -> list[str]:
    """Return the actions allowed from ``status``."""
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


def next_status(status: str, action: str) -> str:
    """Return the status after ``action``.

    Raises
    ------
    ConflictError
        If the action is unknown or not allowed from ``status``; the message lists the allowed ones.
    """
    sources, target = TRANSITIONS.get(action, ((), None))
    if status not in sources:
        allowed = ", ".join(allowed_actions(status)) or "none"
        raise ConflictError(
            f"cannot {action} a case in state {status!r}; allowed actions: {allowed}"
        )
    return target or status
