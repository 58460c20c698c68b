"""Request bodies the API reads by hand rather than through a pydantic model.

The predict body is the hot path: FastAPI's pydantic parsing of ``{"rows": [...]}`` costs
more than scoring a small batch, so the route reads the raw bytes and this module checks
only the envelope (one of ``features`` or ``rows``, nothing else). The rows themselves are
checked against the model's schema in :mod:`driftscope.core.serving.validation`, which
names each problem under the location returned here.
"""

from __future__ import annotations

from typing import Any

import pydantic_core

from driftscope.core.validation import Problem, RequestValidationFailed

# a body of thousands of unknown keys is answered with this many of them named
_SHOWN_EXTRA_KEYS = 20


def parse_predict_body(body: bytes) -> tuple[list[Any], tuple[str | int, ...]]:
    """The rows of a predict body and where they are in it: ``{"features": {...}}`` is one
    row at ``("body", "features")``, ``{"rows": [...]}`` a batch at ``("body", "rows")``.

    Non-finite numbers (``Infinity``, ``NaN``) are parsed, so that row validation can name
    them; anything else malformed raises :class:`RequestValidationFailed` (a 422).
    """
    try:
        data = pydantic_core.from_json(body, allow_inf_nan=True)
    except ValueError as exc:
        raise RequestValidationFailed(
            [Problem(("body",), f"the body is not valid JSON: {exc}", "json_invalid")]
        ) from None
    if not isinstance(data, dict):
        raise RequestValidationFailed(
            [
                Problem(
                    ("body",),
                    'expected an object: {"features": {...}} or {"rows": [...]}',
                    "model_type",
                )
            ]
        )
    extra = [k for k in data if k not in ("features", "rows")]
    if extra or ("features" in data) == ("rows" in data):
        problems = [
            Problem(("body", k), "unknown field", "extra_forbidden")
            for k in extra[:_SHOWN_EXTRA_KEYS]
        ]
        if ("features" in data) == ("rows" in data):
            problems.append(
                Problem(("body",), 'give exactly one of "features" or "rows"', "missing")
            )
        raise RequestValidationFailed(problems)
    if "features" in data:
        return [data["features"]], ("body", "features")
    rows = data["rows"]
    if not isinstance(rows, list) or not rows:
        raise RequestValidationFailed(
            [Problem(("body", "rows"), "expected a non-empty array of rows", "list_type")]
        )
    return rows, ("body", "rows")
