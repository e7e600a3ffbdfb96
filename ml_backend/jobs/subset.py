"""Which tasks a job labels: ``all``, ``unlabeled``, ``ids:1,2,3`` or ``view:V``.

``unverified`` is another spelling of ``unlabeled``: a task is verified by annotating it, so the
tasks nobody has annotated are exactly those not yet verified (what a derived agent is run on).

The text form is what the user types, what the store keeps and what the API shows, so it is
parsed once here into a canonical form (no spaces, ids sorted and unique) and every refusal
says what was wrong and what would be right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The store keeps the subset in a 2,000-character column; longer id lists belong in a view.
MAX_TEXT = 2000
FORMS = "'all', 'unlabeled' (or 'unverified'), 'ids:1,2,3' or 'view:<view id>'"


class SubsetError(ValueError):
    """A subset the user wrote cannot be understood; the message says how to write it."""


@dataclass(frozen=True)
class Subset:
    kind: str
    ids: tuple[int, ...] = ()
    view: int | None = None

    @property
    def text(self) -> str:
        """The canonical spelling (what the store and the API show)."""
        if self.kind == "ids":
            return "ids:" + ",".join(map(str, self.ids))
        if self.kind == "view":
            return f"view:{self.view}"
        return self.kind

    def selection(self) -> dict[str, Any]:
        """Keyword arguments of ``sync.tasks.iter_task_pages`` selecting these tasks."""
        if self.kind == "ids":
            return {"ids": list(self.ids)}
        if self.kind == "view":
            return {"view": self.view}
        return {"unlabeled": self.kind == "unlabeled"}


def parse_subset(text: str | None) -> Subset:
    """The subset named by ``text`` (None or empty means all); raises SubsetError."""
    if text is None:
        return Subset("all")
    if not isinstance(text, str):
        raise SubsetError(f"subset must be a string like {FORMS}, got {type(text).__name__}")
    raw = text.strip()
    if raw.lower() in ("", "all"):
        return Subset("all")
    if raw.lower() in ("unlabeled", "unverified"):
        return Subset("unlabeled")
    kind, colon, rest = raw.partition(":")
    kind = kind.strip().lower()
    if colon and kind == "ids":
        return _ids(rest)
    if colon and kind == "view":
        return Subset("view", view=_positive(rest.strip(), "view id"))
    raise SubsetError(f"unknown subset {_shown(raw)}: expected {FORMS}")


def _ids(rest: str) -> Subset:
    parts = [part.strip() for part in rest.split(",")]
    if not any(parts):
        raise SubsetError("subset 'ids:' names no task: give task ids like 'ids:1,2,3'")
    if "" in parts:
        raise SubsetError(f"subset 'ids:{_shown(rest, quote=False)}' has an empty id: separate ids with single commas")
    ids = tuple(sorted({_positive(part, "task id") for part in parts}))
    subset = Subset("ids", ids=ids)
    if len(subset.text) > MAX_TEXT:
        raise SubsetError(f"subset names {len(ids)} task ids, too many for an ids: subset "
                          f"({len(subset.text)} characters > {MAX_TEXT}); save them as a Data Manager "
                          "view in Label Studio and use 'view:<view id>'")
    return subset


def _positive(value: str, what: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise SubsetError(f"{what} must be a positive integer, got {_shown(value)}")
    if int(value) >= 2**63:
        raise SubsetError(f"{what} must be below 2**63, got {_shown(value)}")
    return int(value)


def _shown(value: str, quote: bool = True) -> str:
    """The offending text, shortened so that an error never echoes a huge input."""
    short = value if len(value) <= 60 else value[:57] + "..."
    return repr(short) if quote else short
