"""The checks of a claim, read off its evidence, in three-valued logic.

A study's evidence maps names (unit in the name: ``*_fd``, ``*_bpd``, ``*_s``) to
numbers; ``None`` is a number that could not be measured (a run that diverged, a step
count the plan did not run). A check of the claim is ``True`` (the condition holds),
``False`` (it fails) or ``None`` (unknown: an operand was not measured).

Combining checks (Kleene's strong three-valued logic):

- :func:`all_of`: a ``False`` beats an unknown beats a ``True``: ``False`` if any part
  is ``False``, else ``None`` if any is unknown, else ``True`` (also for no parts).
- :func:`any_of`: the dual, a ``True`` beats an unknown beats a ``False``.

So a failed part is never hidden by an unmeasured one, and an unmeasured part never
passes for a measured success.

Operands of the comparisons are evidence names or plain numbers (thresholds). A name
that is not in the evidence is a mistake, not an unknown: it raises ``KeyError`` naming
the closest names, so a misspelt key cannot turn a verdict into "inconclusive". A number
the plan did not measure must be in the evidence as ``None``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

__all__ = [
    "Check",
    "Evidence",
    "all_of",
    "any_of",
    "at_least",
    "at_most",
    "greater",
    "less",
    "value",
]

Check = bool | None
Operand = str | float  # an evidence name, or a number


class Evidence(dict[str, float | None]):
    """Named measurements of a study (``None``: not measured).

    ``ev[name]`` for a name never recorded raises ``KeyError`` with the closest names;
    ``ev.get(name)`` stays for names that are optional by design (a row trained only
    at some budgets). Saved in results.json as a plain JSON object.
    """

    def __missing__(self, key: str) -> float | None:
        raise _unknown(key, self)


def _unknown(name: str, names: Iterable[str]) -> KeyError:
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    hint = f"; closest: {', '.join(close)}" if close else ""
    return KeyError(f"no evidence named {name!r}{hint}")


def value(ev: Mapping[str, float | None], operand: Operand) -> float | None:
    """The number ``operand`` names in ``ev`` (``None``: not measured), or ``operand``
    itself when it is a number; an unknown name raises ``KeyError``."""
    if isinstance(operand, str):
        if operand not in ev:
            raise _unknown(operand, ev)
        return ev[operand]
    return float(operand)


def less(ev: Mapping[str, float | None], a: Operand, b: Operand, factor: float = 1.0) -> Check:
    """``factor * a < b``; ``None`` when either is not measured."""
    va, vb = value(ev, a), value(ev, b)
    return None if va is None or vb is None else factor * va < vb


def greater(ev: Mapping[str, float | None], a: Operand, b: Operand) -> Check:
    """``a > b``; ``None`` when either is not measured."""
    va, vb = value(ev, a), value(ev, b)
    return None if va is None or vb is None else va > vb


def at_least(
    ev: Mapping[str, float | None],
    a: Operand,
    b: Operand,
    *,
    factor: float = 1.0,
    offset: float = 0.0,
) -> Check:
    """``a >= factor * b + offset``; ``None`` when either is not measured."""
    va, vb = value(ev, a), value(ev, b)
    return None if va is None or vb is None else va >= factor * vb + offset


def at_most(
    ev: Mapping[str, float | None], a: Operand, b: Operand, *, factor: float = 1.0
) -> Check:
    """``a <= factor * b``; ``None`` when either is not measured."""
    va, vb = value(ev, a), value(ev, b)
    return None if va is None or vb is None else va <= factor * vb


def all_of(checks: Iterable[Check]) -> Check:
    """Every check holds: ``False`` beats ``None`` beats ``True``."""
    values = list(checks)
    if any(c is False for c in values):
        return False
    return None if any(c is None for c in values) else True


def any_of(checks: Iterable[Check]) -> Check:
    """Some check holds: ``True`` beats ``None`` beats ``False``."""
    values = list(checks)
    if any(c is True for c in values):
        return True
    return None if any(c is None for c in values) else False
