"""What every store can hold, checked where a request comes in.

A value that reaches the store and cannot be written there does not fail its request: the
request has been answered by then, and the batch it is in fails in the log writer. So every
string, time and duration a client sends is checked here first, and refused with the
location of the value (FastAPI's ``loc``) in a :class:`RequestValidationFailed`, which the
API answers with 422.

What the stores cannot hold:

* **NUL characters** (``"\\x00"``): PostgreSQL ``TEXT`` refuses them (SQLite would keep
  them, but the same data must fit either store).
* **Lone surrogates** (``"\\ud800"``): not encodable as UTF-8, which SQLite's driver and
  PostgreSQL both need. Python's JSON parser lets them through from ``"\\ud800"`` escapes.
* **Over-long text.** The SQL store's text columns are ``TEXT`` without a length, but its
  keys are B-tree indexed (prediction ids, silence ids, alert keys) and PostgreSQL refuses
  an index entry above 2,704 bytes. Ids and labels get limits well below that, counted in
  characters (at most 4 UTF-8 bytes each): :data:`MAX_ID_CHARS`, :data:`MAX_LABEL_CHARS`,
  :data:`MAX_NAME_CHARS`, :data:`MAX_FEATURE_NAME_CHARS`, :data:`MAX_REASON_CHARS`.
* **Times outside [0001-01-01, 9999-12-31T23:59:59.999999] UTC** (:data:`EARLIEST`,
  :data:`LATEST`). The SQL store keeps microseconds since 1970 in a ``BIGINT`` (about
  ±292,000 years) and PostgreSQL's ``timestamptz`` spans 4713 BC to 294276 AD, but every
  time comes back as a Python datetime, whose range is years 1 to 9999 in UTC: an instant
  outside it can be written and never read. ``0001-01-01T00:00:00+01:00`` is outside
  (it is 31 December of year 0 in UTC).
* **Durations longer than** :data:`MAX_DURATION` (ten years): a silence ends at now plus its
  duration, which has to stay inside the time window; a window of stats starts at now minus
  it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from driftscope.core.durations import parse_duration
from driftscope.core.errors import DriftscopeError

MAX_ID_CHARS = 64
"""Prediction ids (records, feedback) and the ids of reports and silences in paths."""
MAX_LABEL_CHARS = 256
"""A classifier's prediction or label, as text."""
MAX_NAME_CHARS = 200
"""Monitor and detector names, and who made a silence."""
MAX_FEATURE_NAME_CHARS = 500
"""A feature name a silence matches."""
MAX_REASON_CHARS = 1000
"""Why a silence was made."""
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
"""The earliest time any store keeps (and reads back)."""
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
"""The latest time any store keeps (and reads back)."""
MAX_DURATION = timedelta(days=3650)
"""The longest silence, or window of stats, a request may ask for."""

# an error message shows at most this much of a bad name
_SHOWN_CHARS = 80


def printable(text: str) -> str:
    """``text`` safe to put in a JSON response or a log line: lone surrogates become
    ``\\udxxx`` escapes (they cannot be encoded, and the error would hide the real one)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def shown(text: str) -> str:
    """``text`` as an error message quotes it: printable, cut at 80 characters, in quotes."""
    cut = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
    return repr(printable(cut))


@dataclass(frozen=True)
class Problem:
    """One invalid value of a request: where it is (``loc``), which row and field, and why."""

    loc: tuple[str | int, ...]
    msg: str
    type: str
    row: int | None = None
    field: str | None = None

    def __post_init__(self) -> None:
        # ("body", "rows", 3, ...) is row 3
        if self.row is None and len(self.loc) > 2 and isinstance(self.loc[2], int):
            object.__setattr__(self, "row", self.loc[2])

    def to_dict(self) -> dict[str, Any]:
        """The problem as one item of a 422's ``detail`` list (strings made printable, since
        a name the client sent may itself be what cannot be encoded)."""
        loc = [part if isinstance(part, int) else printable(str(part)) for part in self.loc]
        out: dict[str, Any] = {"type": self.type, "loc": loc, "msg": printable(self.msg)}
        if self.row is not None:
            out["row"] = self.row
        if self.field is not None:
            out["field"] = printable(self.field)
        return out


class RequestValidationFailed(DriftscopeError):
    """A request's values do not fit the model's schema or the store; ``problems`` names
    each one."""

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        super().__init__(f"{self.total} invalid value(s)")

    def to_list(self) -> list[dict[str, Any]]:
        """The ``detail`` list of a 422 response."""
        out = [p.to_dict() for p in self.problems]
        if self.total > len(self.problems):
            out.append(
                {
                    "type": "too_many_errors",
                    "loc": ["body"],
                    "msg": f"{self.total - len(self.problems)} more problems not shown",
                }
            )
        return out


# -- the checks: each returns (type, message) of the problem, or None ------------------------
def text_problem(value: str, max_chars: int | None = None) -> tuple[str, str] | None:
    """Why no store can hold ``value`` (NUL, a lone surrogate, more than ``max_chars``
    characters), or ``None`` when it fits."""
    if "\x00" in value:
        return (
            "string_nul",
            f"text must not contain NUL (\\u0000) characters; found one at character "
            f"{value.index(chr(0))}",
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            "string_unicode",
            f"text must be valid Unicode: a lone surrogate "
            f"{value[exc.start].encode('unicode_escape').decode()} at character {exc.start} "
            "cannot be stored",
        )
    if max_chars is not None and len(value) > max_chars:
        return ("string_too_long", f"at most {max_chars} characters, got {len(value)}")
    return None


def time_problem(value: datetime) -> tuple[str, str] | None:
    """Why no store can hold the instant ``value`` (naive = UTC), or ``None``."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # comparing aware datetimes subtracts their offsets without building the UTC datetime,
    # so this works for instants that have none
    if EARLIEST <= aware <= LATEST:
        return None
    return (
        "datetime_range",
        f"time {value.isoformat()} is outside what the store keeps: "
        f"{EARLIEST.isoformat()} to {LATEST.isoformat()} (UTC)",
    )


def duration_problem(value: timedelta) -> tuple[str, str] | None:
    """Why ``value`` is not a duration a request may ask for (at most ten years), or
    ``None``."""
    if value <= timedelta(0):
        return ("duration_range", "a duration must be positive")
    if value > MAX_DURATION:
        return ("duration_range", f"at most {MAX_DURATION.days}d, got {value.days}d")
    return None


def as_utc(value: datetime) -> datetime:
    """A checked time (see :func:`time_problem`) as an aware UTC datetime; naive = UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# -- checks that raise, for one value at a known place ----------------------------------------
def _fail(loc: tuple[str | int, ...], problem: tuple[str, str]) -> RequestValidationFailed:
    kind, message = problem
    return RequestValidationFailed([Problem(loc, message, kind, field=str(loc[-1]))])


def require_text(value: str, loc: tuple[str | int, ...], max_chars: int | None = None) -> str:
    """``value`` if a store can hold it, else :class:`RequestValidationFailed` at ``loc``."""
    problem = text_problem(value, max_chars)
    if problem is not None:
        raise _fail(loc, problem)
    return value


def require_time(value: datetime | None, loc: tuple[str | int, ...]) -> datetime | None:
    """``value`` as aware UTC if a store can hold it (``None`` stays ``None``), else
    :class:`RequestValidationFailed` at ``loc``."""
    if value is None:
        return None
    problem = time_problem(value)
    if problem is not None:
        raise _fail(loc, problem)
    return as_utc(value)


def duration_field(
    value: Any, loc: tuple[str | int, ...]
) -> tuple[timedelta | None, Problem | None]:
    """Parse a duration (``"2h"``, a number of seconds) and check it is positive and at
    most :data:`MAX_DURATION`: ``(duration, None)`` or ``(None, the problem at loc)``."""
    try:
        duration = parse_duration(value)
    except ValueError as exc:
        return None, Problem(loc, printable(str(exc)), "duration", field=str(loc[-1]))
    problem = duration_problem(duration)
    if problem is not None:
        return None, Problem(loc, problem[1], problem[0], field=str(loc[-1]))
    return duration, None


def require_duration(value: Any, loc: tuple[str | int, ...]) -> timedelta:
    """A duration checked as :func:`duration_field` does, or
    :class:`RequestValidationFailed` at ``loc``."""
    duration, problem = duration_field(value, loc)
    if problem is not None:
        raise RequestValidationFailed([problem])
    assert duration is not None
    return duration
