"""Reading the report's HTML file back (the standard library's parser: what a browser's
tokenizer sees), and per-feature summaries in the shape the engine writes into
``Report.features``, built from raw values with numpy so the expected figures come from
numpy rather than from the code under test."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import numpy as np


@dataclass
class TableCell:
    text: str
    note: str
    attrs: dict[str, str | None]


@dataclass
class HtmlTable:
    headers: list[TableCell] = field(default_factory=list)  # the last header row
    groups: list[TableCell] = field(default_factory=list)  # the first header row (of two)
    rows: list[list[TableCell]] = field(default_factory=list)
    row_attrs: list[dict[str, str | None]] = field(default_factory=list)

    def columns(self) -> list[tuple[str, str]]:
        """(group, header) of each body column: a header spanning two rows is its own group;
        with a single header row, the group is empty."""
        if not self.headers:
            return [("", h.text) for h in self.groups]
        out: list[tuple[str, str]] = []
        below = iter(self.headers)
        for group in self.groups:
            if group.attrs.get("rowspan") == "2":
                out.append(("", group.text))
                continue
            span = int(group.attrs.get("colspan") or 1)
            out.extend((group.text, next(below).text) for _ in range(span))
        return out

    def group(self, name: str) -> TableCell:
        """The header cell of a group of columns (a detector's)."""
        return next(g for g in self.groups if g.text == name)

    def cell(self, name: str, header: str, group: str = "") -> TableCell:
        """The cell of row ``name`` under ``header`` (of ``group``)."""
        return self.row(name)[self.columns().index((group, header))]

    def row(self, name: str) -> list[TableCell]:
        """The body row whose first cell is ``name``."""
        for cells in self.rows:
            if cells and cells[0].text == name:
                return cells
        raise KeyError(name)


class ReportDocument(HTMLParser):
    """Scripts, tables, the CSP and the visible text of one report file."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.tables: dict[str, HtmlTable] = {}
        self.csp: str | None = None
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._text: list[str] = []
        self._script: dict[str, str | None] | None = None
        self._script_text: list[str] = []
        self._table: HtmlTable | None = None
        self._header_rows = 0
        self._in_head_row = False
        self._row_attrs: dict[str, str | None] | None = None
        self._cell: TableCell | None = None
        self._in_small = False
        self._style = False
        self.feed(document)
        self.close()

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())

    @property
    def figures(self) -> list[dict[str, Any]]:
        for attrs, content in self.scripts:
            if attrs.get("id") == "report-figures":
                return json.loads(content)
        raise AssertionError("no figure data in the report")

    def figure_of(self, column: str) -> dict[str, Any]:
        for figure in self.figures:
            if figure["layout"].get("meta", {}).get("column") == column:
                return figure
        raise KeyError(column)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "meta" and (found.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = found.get("content")
        elif tag == "script":
            self._script, self._script_text = found, []
        elif tag == "style":
            self._style = True
        elif tag == "table":
            self._table = HtmlTable()
            self.tables[found.get("id") or f"table-{len(self.tables)}"] = self._table
            self._header_rows = 0
        elif tag == "tr" and self._table is not None:
            self._in_head_row = False
            self._row_attrs = found
        elif tag in ("th", "td") and self._table is not None:
            self._cell = TableCell("", "", found)
        elif tag == "small":
            self._in_small = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._script_text)))
            self._script = None
        elif tag == "style":
            self._style = False
        elif tag == "small":
            self._in_small = False
        elif tag in ("th", "td") and self._table is not None and self._cell is not None:
            cell = self._cell
            cell.text, cell.note = cell.text.strip(), cell.note.strip()
            if tag == "th":
                self._in_head_row = True
                target = self._table.groups if self._header_rows == 0 else self._table.headers
                target.append(cell)
            else:
                if self._row_attrs is not None:  # the row's first cell
                    self._table.rows.append([])
                    self._table.row_attrs.append(self._row_attrs)
                    self._row_attrs = None
                self._table.rows[-1].append(cell)
            self._cell = None
        elif tag == "tr" and self._table is not None:
            if self._in_head_row:
                self._header_rows += 1
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)
            return
        if self._style:
            return
        self._text.append(data)
        if self._cell is not None:
            if self._in_small:
                self._cell.note += data
            else:
                self._cell.text += data


# -- summaries in the engine's shape -----------------------------------------------------------
def _side(values: np.ndarray, *, reference: np.ndarray | None) -> dict[str, Any]:
    missing = int(np.isnan(values).sum())
    infinite = int(np.isinf(values).sum())
    good = values[np.isfinite(values)]
    out_of_range = 0
    if reference is not None:
        ref = reference[np.isfinite(reference)]
        out_of_range = int(((good < ref.min()) | (good > ref.max())).sum())
    with np.errstate(over="ignore"):  # 1e308 is finite; its square is not
        std = float(good.std()) if good.size else None
    return {
        "rows": int(values.size),
        "missing": missing,
        "infinite": infinite,
        "out_of_range": out_of_range,
        "unseen": 0,
        "mean": float(good.mean()) if good.size else None,
        "std": std,
        "min": float(good.min()) if good.size else None,
        "max": float(good.max()) if good.size else None,
        "distinct": None,
    }


def numeric_summary(
    name: str,
    reference: Sequence[float],
    current: Sequence[float],
    *,
    bins: int = 10,
    result_kind: str = "feature",
) -> dict[str, Any]:
    """A numeric column's summary: moments over finite values, ``bins`` equal-width bins over
    the reference's finite range with a bin below and one above (numpy's histogram)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    finite_ref = ref[np.isfinite(ref)]
    edges = np.linspace(finite_ref.min(), finite_ref.max(), bins + 1)

    def counts(values: np.ndarray) -> list[int]:
        good = values[np.isfinite(values)]
        inner, _ = np.histogram(good[(good >= edges[0]) & (good <= edges[-1])], bins=edges)
        return [int((good < edges[0]).sum()), *map(int, inner), int((good > edges[-1]).sum())]

    return {
        "name": name,
        "kind": "numeric",
        "result_kind": result_kind,
        "reference": _side(ref, reference=None),
        "current": _side(cur, reference=ref),
        "histogram": {
            "edges": [float(e) for e in edges],
            "reference": counts(ref),
            "current": counts(cur),
            "categories": None,
        },
    }


def categorical_summary(
    name: str,
    reference: Sequence[str | None],
    current: Sequence[str | None],
    *,
    top: int = 20,
    result_kind: str = "feature",
) -> dict[str, Any]:
    """A categorical column's summary: the reference's ``top`` categories, then ``(other)``
    and ``(unseen)``."""
    ref_values = [v for v in reference if v is not None]
    cur_values = [v for v in current if v is not None]
    known = set(ref_values)
    ranked = sorted(known, key=lambda c: (-ref_values.count(c), c))
    shown = ranked[:top]

    def counts(values: list[str]) -> list[int]:
        return [
            *(values.count(c) for c in shown),
            sum(1 for v in values if v in known and v not in shown),
            sum(1 for v in values if v not in known),
        ]

    def side(values: Sequence[str | None], kept: list[str], unseen: int) -> dict[str, Any]:
        return {
            "rows": len(values),
            "missing": sum(1 for v in values if v is None),
            "infinite": 0,
            "out_of_range": 0,
            "unseen": unseen,
            "mean": None,
            "std": None,
            "min": None,
            "max": None,
            "distinct": len(set(kept)),
        }

    return {
        "name": name,
        "kind": "categorical",
        "result_kind": result_kind,
        "reference": side(reference, ref_values, 0),
        "current": side(current, cur_values, sum(1 for v in cur_values if v not in known)),
        "histogram": {
            "edges": None,
            "reference": counts(ref_values),
            "current": counts(cur_values),
            "categories": [*shown, "(other)", "(unseen)"],
        },
    }
