"""The checks of a claim: an effect, its standard error and a stated margin.

A study's evidence maps names (unit in the name: ``*_fd``, ``*_bpd``, ``*_s``) to
numbers; ``None`` is a number that could not be measured (a run that diverged). Every
number a check reads carries its standard error as the evidence ``NAME_se`` (a
bootstrap over test items, or the spread over seeds or label subsets; ``0.0`` only for a
number with no sampling noise, e.g. a determinant computed two ways). A plain number in
a check (a threshold) has no error.

A :class:`Check` states the claim as ``effect > margin``, the effect signed so that a
positive value goes the claimed way (a difference ``a - b``, or ``log(a / b)`` for a
ratio). With ``Z = 2`` standard errors:

- ``pass``: ``effect - Z * se > margin``: the data show the claimed effect;
- ``fail``: ``effect + Z * se < margin``: the data exclude an effect as large as the margin;
- ``undecided``: neither, or an operand was not measured.

The verdict of a claim (:func:`verdict_of`) is ``holds`` when every check passes,
``does not hold`` when any fails and ``undecided`` otherwise; no rule depends on the
budget's name. An undecided check says how much more data would decide it: the SE of
a mean shrinks as ``1/sqrt(n)``, so ``(Z * se / |effect - margin|)^2`` times the items
it was measured on would put the effect ``Z`` SE from the margin (:attr:`Check.budget_factor`).

A name that is not in the evidence is a mistake, not an unknown: it raises ``KeyError``
naming the closest names, so a misspelt key cannot turn a verdict into "undecided".
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

__all__ = [
    "SE_SUFFIX",
    "Z",
    "Check",
    "Evidence",
    "Status",
    "Verdict",
    "VERDICTS",
    "difference",
    "fact",
    "ratio",
    "se_name",
    "value",
    "verdict_line",
    "verdict_of",
]

Z = 2.0  # standard errors between the effect and the margin that decide a check
SE_SUFFIX = "_se"
Status = Literal["pass", "fail", "undecided"]
Verdict = Literal["holds", "does not hold", "undecided"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
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


def se_name(name: str) -> str:
    """The evidence name of ``name``'s standard error."""
    return name + SE_SUFFIX


def value(ev: Mapping[str, float | None], operand: Operand) -> float | None:
    """The number ``operand`` names in ``ev`` (``None``: not measured), or ``operand``
    itself when it is a number; an unknown name raises ``KeyError``."""
    if isinstance(operand, str):
        if operand not in ev:
            raise _unknown(operand, ev)
        got = ev[operand]
        return None if got is None or not math.isfinite(got) else float(got)
    return float(operand)


def _with_se(ev: Mapping[str, float | None], operand: Operand) -> tuple[float | None, float | None]:
    """(value, standard error) of an operand: a name reads ``NAME_se`` (which must be
    recorded), a number has SE 0."""
    if isinstance(operand, str):
        return value(ev, operand), value(ev, se_name(operand))
    return float(operand), 0.0


@dataclass(frozen=True)
class Check:
    """One check of a claim: ``effect > margin``, judged with the effect's SE.

    ``text`` says the claim in words with its operands; ``effect``/``se``/``margin`` are
    in ``scale`` units (``difference``: the operands' unit; ``log ratio``: natural log
    of a ratio); ``None`` where an operand was not measured.
    """

    text: str
    effect: float | None
    se: float | None
    margin: float
    scale: Literal["difference", "log ratio"] = "difference"

    def __post_init__(self) -> None:
        assert self.se is None or self.se >= 0, f"negative standard error {self.se}"

    @property
    def status(self) -> Status:
        if self.effect is None or self.se is None:
            return "undecided"
        if self.effect - Z * self.se > self.margin:
            return "pass"
        if self.effect + Z * self.se < self.margin:
            return "fail"
        return "undecided"

    @property
    def budget_factor(self) -> float | None:
        """For an undecided check: about how many times the items it was measured on
        would decide it (SE ~ 1/sqrt(n), the effect as measured); ``None`` when decided
        or not measured, ``inf`` when the effect sits on the margin."""
        if self.status != "undecided" or self.effect is None or self.se is None:
            return None
        gap = abs(self.effect - self.margin)
        return math.inf if gap == 0 else max(1.0, (Z * self.se / gap) ** 2)

    def describe(self) -> str:
        """``effect E +- SE against margin M`` in the check's own scale (a ratio for
        ``log ratio``)."""
        if self.effect is None or self.se is None:
            return "not measured"
        if self.scale == "log ratio":
            return (
                f"ratio {math.exp(self.effect):.3g} (x/ {math.exp(self.se):.3g}) against "
                f"{math.exp(self.margin):.3g}"
            )
        return f"effect {self.effect:.4g} +- {self.se:.2g} against margin {self.margin:.4g}"

    def to_dict(self) -> dict[str, Any]:
        factor = self.budget_factor
        return {
            **asdict(self),
            "status": self.status,
            "budget_factor": None if factor is None or math.isinf(factor) else factor,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Check:
        keep = ("text", "effect", "se", "margin", "scale")
        return cls(**{k: raw[k] for k in keep if k in raw})


def difference(
    ev: Mapping[str, float | None],
    a: Operand,
    b: Operand = 0.0,
    *,
    margin: float = 0.0,
    text: str = "",
) -> Check:
    """The claim ``a - b > margin``: effect ``a - b``, SE the two SEs in quadrature
    (independent measurements). For paired measurements (the same test items scored
    twice) record the difference and its paired SE as evidence and pass it as ``a``."""
    (va, sa), (vb, sb) = _with_se(ev, a), _with_se(ev, b)
    if not text:
        text = f"{a} > {margin:g}" if b == 0.0 else f"{a} - {b} > {margin:g}"
    if va is None or vb is None or sa is None or sb is None:
        return Check(text, None, None, margin)
    return Check(text, va - vb, math.hypot(sa, sb), margin)


def ratio(
    ev: Mapping[str, float | None], a: Operand, b: Operand, factor: float, *, text: str = ""
) -> Check:
    """The claim ``a / b > factor`` (positive operands), judged on ``log(a / b)`` with
    the delta-method SE ``sqrt((se_a / a)^2 + (se_b / b)^2)``."""
    assert factor > 0, factor
    (va, sa), (vb, sb) = _with_se(ev, a), _with_se(ev, b)
    text = text or f"{a} / {b} > {factor:g}"
    margin = math.log(factor)
    if va is None or vb is None or sa is None or sb is None or va <= 0 or vb <= 0:
        return Check(text, None, None, margin, "log ratio")
    return Check(text, math.log(va / vb), math.hypot(sa / va, sb / vb), margin, "log ratio")


def fact(effect: float, text: str, margin: float = 0.0) -> Check:
    """A check of a number with no sampling noise (SE 0), e.g. a tolerance on a
    determinant computed two ways: ``effect > margin`` decides it outright."""
    return Check(text, effect, 0.0, margin)


def verdict_of(checks: Mapping[str, Check]) -> Verdict:
    """``holds`` when every check passes, ``does not hold`` when any fails, else
    ``undecided`` (a failed check is never hidden by an undecided one)."""
    assert checks, "a claim needs at least one check"
    statuses = [c.status for c in checks.values()]
    if "fail" in statuses:
        return "does not hold"
    return "holds" if all(s == "pass" for s in statuses) else "undecided"


def verdict_line(checks: Mapping[str, Check]) -> str:
    """The verdict in one line: for ``undecided``, each undecided check's effect, SE,
    margin and the budget that would decide it; for ``does not hold``, the failed
    checks."""
    verdict = verdict_of(checks)
    if verdict == "holds":
        return "holds: every check clears its margin by 2 SE"
    want = "fail" if verdict == "does not hold" else "undecided"
    parts = []
    for name, check in checks.items():
        if check.status != want:
            continue
        part = f"{name}: {check.describe()}"
        factor = check.budget_factor
        if factor is not None:
            part += (
                "; no budget decides it (the effect sits on the margin)"
                if math.isinf(factor)
                else f"; ~{factor:.1f}x the data behind its SE would decide it"
            )
        parts.append(part)
    return f"{verdict}: " + "; ".join(parts)
