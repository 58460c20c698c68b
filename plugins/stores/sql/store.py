""":class:`SQLStore`, put together from the parts of this package, one concern each."""

from __future__ import annotations

from .alerts import AlertsMixin
from .dead_letters import DeadLettersMixin
from .leases import LeasesMixin
from .models import ModelsMixin
from .predictions import PredictionsMixin
from .quick_writes import QuickWritesMixin
from .reports import ReportsMixin
from .retention import RetentionMixin
from .window import WindowMixin


class SQLStore(
    ModelsMixin,
    QuickWritesMixin,
    PredictionsMixin,
    WindowMixin,
    ReportsMixin,
    LeasesMixin,
    AlertsMixin,
    DeadLettersMixin,
    RetentionMixin,
):
    """driftscope's SQL store: SQLite (default, WAL) or PostgreSQL, chosen by the URL."""
