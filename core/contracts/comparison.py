"""What a drift decision compared, told the same way by every renderer.

A result, an alert state, a recorded alert change and a notification's change all carry
the same fields: ``compared`` (which number was held against the threshold: the p-value,
the statistic, or a window's row count), ``value`` (that number: the *adjusted* p-value
when the monitor corrects for multiple tests), ``threshold``, ``drifts_when`` (on which side
of the threshold drift lies), and beside them the ``statistic``, the raw ``p_value``, the
``p_value_adjusted`` and a ``statistic_floor`` (KS's ``min_statistic``: an effect size the
statistic must also reach). :func:`comparison_parts` turns them into text that puts each
number beside its own threshold: "p-value 0.0123 < threshold 0.05 · statistic 0.409 ≥
floor 0.1", never a KS statistic beside a p-value threshold. The Discord embed, the log
notifier, ``driftscope alerts``, the demo and the API's ``comparison`` field all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from driftscope.core.contracts.types import Compared, DriftsWhen

#: The fields that say what a decision compared; copied together from a result to an alert
#: state, and from a state to its events and announced changes.
COMPARISON_FIELDS: tuple[str, ...] = (
    "statistic",
    "threshold",
    "compared",
    "value",
    "drifts_when",
    "p_value",
    "p_value_adjusted",
    "statistic_floor",
)


class HasComparison(Protocol):
    """Anything that carries the comparison fields (read-only here)."""

    @property
    def statistic(self) -> float | None: ...

    @property
    def threshold(self) -> float | None: ...

    @property
    def compared(self) -> Compared | None: ...

    @property
    def value(self) -> float | None: ...

    @property
    def drifts_when(self) -> DriftsWhen | None: ...

    @property
    def p_value(self) -> float | None: ...

    @property
    def p_value_adjusted(self) -> float | None: ...

    @property
    def statistic_floor(self) -> float | None: ...


def copy_comparison(source: HasComparison, target: object) -> None:
    """Set every comparison field of ``target`` to ``source``'s."""
    for name in COMPARISON_FIELDS:
        setattr(target, name, getattr(source, name))


def number(value: float | None) -> str:
    """A number as alerts show it: four significant digits, ``n/a`` when missing."""
    return "n/a" if value is None else f"{value:.4g}"


def _relation(value: float, threshold: float, drifts_when: DriftsWhen) -> str:
    """The sign that holds between ``value`` and ``threshold``, as the rule reads it."""
    if drifts_when == "above":
        return ">" if value > threshold else "≤"
    return "<" if value < threshold else "≥"


def _against(
    label: str,
    value: float | None,
    threshold: float | None,
    drifts_when: DriftsWhen,
    threshold_label: str,
) -> str:
    if value is None or threshold is None:
        return f"{label} {number(value)} ({threshold_label} {number(threshold)})"
    sign = _relation(value, threshold, drifts_when)
    return f"{label} {number(value)} {sign} {threshold_label} {number(threshold)}"


_STATISTIC_LIMITS: dict[DriftsWhen, str] = {
    "at_or_above": "threshold",
    "below": "lowest acceptable",
    "above": "highest acceptable",
}


def comparison_parts(item: HasComparison) -> list[str]:
    """Each number the decision compared, beside the threshold it was compared with.

    The first part is the deciding comparison; a p-value decision adds the statistic (with
    its floor when one applies). A row from before these fields existed (``compared`` is
    ``None``) is read as a p-value decision when it has a p-value, else says the statistic and
    the threshold without relating them.
    """
    compared = item.compared
    if compared is None and item.p_value is not None:
        compared = "p_value"
    if compared == "rows":
        rows = item.value if item.value is not None else item.statistic
        return [_against("rows", rows, item.threshold, "below", "minimum")]
    if compared == "p_value":
        adjusted = item.p_value_adjusted
        value = item.value
        if value is None:
            value = adjusted if adjusted is not None else item.p_value
        label = "adjusted p-value" if adjusted is not None else "p-value"
        first = _against(label, value, item.threshold, "below", "threshold")
        if adjusted is not None and item.p_value is not None:
            first += f" (raw {number(item.p_value)})"
        parts = [first]
        if item.statistic is not None:
            floor = item.statistic_floor
            if floor is None:
                parts.append(f"statistic {number(item.statistic)}")
            else:
                parts.append(_against("statistic", item.statistic, floor, "at_or_above", "floor"))
        return parts
    if compared == "statistic":
        drifts_when = item.drifts_when or "at_or_above"
        value = item.value if item.value is not None else item.statistic
        parts = [
            _against(
                "statistic", value, item.threshold, drifts_when, _STATISTIC_LIMITS[drifts_when]
            )
        ]
        if item.p_value is not None:
            parts.append(f"p-value {number(item.p_value)}")
        return parts
    return [f"statistic {number(item.statistic)}, threshold {number(item.threshold)}"]


def comparison_text(item: HasComparison) -> str:
    """:func:`comparison_parts` on one line, joined by `` · ``."""
    return " · ".join(comparison_parts(item))


def comparison_with_context(item: HasComparison) -> str:
    """:func:`comparison_text`, followed by the item's ``context`` when it has one (an
    alert change's band, ranking or data-quality check: :func:`result_context`)."""
    text = comparison_text(item)
    context = getattr(item, "context", None)
    return f"{text} · {context}" if context else text


#: How many features of a ranking an alert names.
RANKED_IN_ALERTS = 3


def result_context(details: Mapping[str, Any]) -> str | None:
    """What a result's ``details`` add to an alert's comparison, read by the conventions the
    built-in window detectors follow (an outside detector that follows them gets the same):

    * an estimate's confidence band, ``lower`` and ``upper``, and the ``realized`` value with
      its ``realized_rows`` once labels came: "band 0.781–0.842 · realized 0.801 (1,204
      rows)";
    * where a multivariate change is, ``ranking``, a list of ``{"feature", "importance"}``
      (shares, largest first): "carried by car_value 45%, salary_range 31%, loan_length 12%";
    * a data-quality finding, ``worst`` naming one of ``checks`` ({check: {"reference",
      "current"}}): "missing 40.0% (reference 0.0%)".

    ``None`` when the details hold none of these, or hold them malformed.
    """
    parts: list[str] = []
    lower, upper = details.get("lower"), details.get("upper")
    if _is_number(lower) and _is_number(upper):
        parts.append(f"band {number(lower)}–{number(upper)}")
        realized, rows = details.get("realized"), details.get("realized_rows")
        if _is_number(realized):
            number_of_rows = rows if isinstance(rows, int | float) and _is_number(rows) else None
            counted = f" ({int(number_of_rows):,} rows)" if number_of_rows is not None else ""
            parts.append(f"realized {number(realized)}{counted}")
    ranking = details.get("ranking")
    if isinstance(ranking, list) and ranking:
        named = [
            f"{entry['feature']} {entry['importance']:.0%}"
            for entry in ranking[:RANKED_IN_ALERTS]
            if isinstance(entry, Mapping)
            and isinstance(entry.get("feature"), str)
            and _is_number(entry.get("importance"))
            and entry["importance"] > 0
        ]
        if named:
            parts.append("carried by " + ", ".join(named))
    worst, checks = details.get("worst"), details.get("checks")
    if isinstance(worst, str) and isinstance(checks, Mapping):
        check = checks.get(worst)
        if isinstance(check, Mapping) and _is_number(check.get("current")):
            reference = check.get("reference")
            against = f" (reference {reference:.1%})" if _is_number(reference) else ""
            parts.append(f"{worst.replace('_', ' ')} {check['current']:.1%}{against}")
    return " · ".join(parts) or None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
