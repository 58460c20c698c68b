"""The pieces the page's template is filled with: table cells and headers, chart cards and
table rows."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, the key it sorts by, and how it looks."""

    text: str
    sort: str | float | None = None
    css: str = ""
    title: str | None = None
    note: str | None = None
    badge: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class Header:
    """A header cell; ``column`` is the index of the body cells it sorts."""

    label: str
    column: int | None = None
    css: str = ""
    help: str | None = None
    span: int = 1
    rowspan: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Chart:
    """One chart card: ``figure`` indexes the page's figure list (``None``: nothing to draw)."""

    title: str
    caption: str
    figure: int | None
    help: str = ""
    anchor: str = ""
    badges: list[Cell] = field(default_factory=list)


@dataclass(frozen=True)
class TableRow:
    """A row of the column table."""

    name: str
    drifted: bool
    cells: list[Cell]
