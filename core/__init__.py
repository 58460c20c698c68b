"""driftscope's public API: everything a plugin needs, from one import path.

from core import hookimpl, Detector, DetectorRecord, DetectorSettings, DetectorResult
"""

from core.detector import (
    Detector,
    DetectorResult,
    DetectorSettings,
    FeatureKind,
    FeatureSample,
    LabelledSample,
    PerformanceDetector,
    ResultStatus,
    Task,
)
from core.durations import Duration, format_duration, parse_duration
from core.errors import (
    ConfigError,
    DriftscopeError,
    ModelLoadError,
    PluginConflictError,
    PluginError,
    StoreError,
    UnknownPluginError,
)
from core.hookspecs import hookimpl, hookspec
from core.notifier import AlertChange, DeliveryResult, Notification, Notifier, NotifierSettings
from core.records import DetectorRecord, NotifierRecord, StoreRecord
from core.report import Report, ResultRow, WindowInfo
from core.store import (
    AlertEvent,
    AlertState,
    FeatureSpec,
    Label,
    LabelUpdate,
    ModelSchema,
    NotifierStatus,
    OutboxMessage,
    PredictionRecord,
    PredictionStats,
    PruneResult,
    Silence,
    Store,
    StoreSettings,
    WindowData,
)

__all__ = [
    "AlertChange",
    "AlertEvent",
    "AlertState",
    "ConfigError",
    "DeliveryResult",
    "Detector",
    "DetectorRecord",
    "DetectorResult",
    "DetectorSettings",
    "DriftscopeError",
    "Duration",
    "FeatureKind",
    "FeatureSample",
    "FeatureSpec",
    "Label",
    "LabelUpdate",
    "LabelledSample",
    "ModelLoadError",
    "ModelSchema",
    "Notification",
    "Notifier",
    "NotifierRecord",
    "NotifierSettings",
    "NotifierStatus",
    "OutboxMessage",
    "PerformanceDetector",
    "PluginConflictError",
    "PluginError",
    "PredictionRecord",
    "PredictionStats",
    "PruneResult",
    "Report",
    "ResultRow",
    "ResultStatus",
    "Silence",
    "Store",
    "StoreError",
    "StoreRecord",
    "StoreSettings",
    "Task",
    "UnknownPluginError",
    "WindowData",
    "WindowInfo",
    "format_duration",
    "hookimpl",
    "hookspec",
    "parse_duration",
]
