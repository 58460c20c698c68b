"""The YAML configuration: models, monitors, detectors, notifiers, store.

Loading happens in three steps so that every problem is reported at once, each with its
location in the file (``monitors[0].detectors[1].threshold: ...``):

1. ``${VAR}`` / ``${VAR:-default}`` interpolation (an unset variable is an error);
2. the document's shape, validated by the pydantic models below;
3. each detector, notifier and store block, validated against the settings model of the
   plugin its ``type`` names, and cross-references (a monitor's model, its notifiers).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, overload

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from driftscope.core.alerting.config import AlertRuleSettings, DeliverySettings
from driftscope.core.config.paths import resolve_path, resolve_settings_paths
from driftscope.core.contracts.detector import DetectorSettings
from driftscope.core.contracts.notifier import NotifierSettings
from driftscope.core.contracts.store import StoreSettings
from driftscope.core.contracts.types import FeatureKind, Task
from driftscope.core.durations import Duration
from driftscope.core.errors import ConfigError, PluginContractError, UnknownPluginError
from driftscope.core.monitoring.correction import Correction
from driftscope.core.plugin_system.manager import ComponentKind, PluginManager

_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _full_type_name(value: str) -> str:
    # names are matched whole; a prefix or a pattern here would silently match nothing
    if not _TYPE_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a full type name such as sklearn.tree._tree.Tree; "
            "prefixes and patterns are not matched"
        )
    return value


class FeatureConfig(_Strict):
    """A feature of a model when the model file does not name its features."""

    name: str
    kind: FeatureKind = "numeric"


class ModelConfig(_Strict):
    """A model: its file (optional for models served elsewhere) and its reference data."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    path: Path | None = Field(default=None, description="skops file (or pickle when trusted).")
    reference: Path = Field(description="CSV of training-time rows: features and the label.")
    target: str | None = Field(default=None, description="Label column of the reference CSV.")
    prediction_column: str | None = Field(
        default=None,
        description="Reference column holding the model's predictions (models without a file).",
    )
    probability_columns: dict[str, str] | None = Field(
        default=None,
        description=(
            "Models without a file: the reference columns holding the model's probability of "
            "each class, {class label: column}. Needed by estimated performance (cbpe)."
        ),
    )
    task: Task | None = Field(default=None, description="Inferred from the model when omitted.")
    features: list[FeatureConfig] | None = Field(
        default=None, description="Feature names and kinds (default: from the model file)."
    )
    trusted: bool = Field(
        default=False,
        description="Allow joblib/pickle files. Loading a pickle runs code: only your own files.",
    )
    trusted_types: list[Annotated[str, AfterValidator(_full_type_name)]] = Field(
        default_factory=list,
        description="Extra types a skops file may contain, by full name (module.Type).",
    )

    @model_validator(mode="after")
    def _needs_predictions(self) -> ModelConfig:
        if self.path is None and self.prediction_column is None:
            raise ValueError(
                "a model without a file needs prediction_column: the reference column "
                "holding its predictions"
            )
        if self.probability_columns is not None and self.path is not None:
            raise ValueError(
                "probability_columns is for models without a file: a model file gives "
                "its probabilities itself (predict_proba)"
            )
        return self

    @field_validator("probability_columns")
    @classmethod
    def _one_column_per_class(cls, columns: dict[str, str] | None) -> dict[str, str] | None:
        if columns is None:
            return None
        if len(columns) < 2:
            raise ValueError("needs a column for each of 2+ classes")
        names = list(columns.values())
        repeated = sorted({c for c in names if names.count(c) > 1})
        if repeated:
            raise ValueError(f"names a column twice: {repeated}")
        return columns


class WindowConfig(_Strict):
    """Which rows a monitor run looks at."""

    last: Duration = Field(description="Window length, ending at the run time.")
    min_samples: int = Field(default=100, ge=1, description="Fewer rows than this is no_data.")
    max_rows: int | None = Field(
        default=None, ge=1000, description="Above this many rows, KS uses a uniform sample."
    )


class MonitorConfig(_Strict):
    """A monitor: which model, how often, which window, which detectors, who to tell."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    model: str
    every: Duration | None = None
    cron: str | None = None
    window: WindowConfig
    detectors: list[dict[str, Any]] = Field(min_length=1)
    features: list[str] | None = Field(default=None, description="Only these features.")
    correction: Correction = Field(
        default="bonferroni", description="Multiple-testing correction across features."
    )
    notify: list[str] = Field(default_factory=list)
    alert: AlertRuleSettings = Field(default_factory=AlertRuleSettings)

    # validated copies of ``detectors``, filled in by load_config
    detector_settings: list[DetectorSettings] = Field(default_factory=list, exclude=True)

    @model_validator(mode="after")
    def _one_schedule(self) -> MonitorConfig:
        if self.every is None and self.cron is None:
            self.every = timedelta(minutes=5)
        elif self.every is not None and self.cron is not None:
            raise ValueError("give either every or cron, not both")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(
                f"cron must have 5 fields (minute hour day month weekday): {self.cron!r}"
            )
        return self


class ApiConfig(_Strict):
    """How the HTTP API accepts and logs predictions."""

    logging: Literal["async", "durable", "sync"] = Field(
        default="durable",
        description=(
            "async: answer once queued; durable: answer once the batch holding the request's "
            "rows has committed (group commit); sync: each request writes its own rows."
        ),
    )
    max_batch_rows: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_body_bytes_in_flight: int | None = Field(
        default=None,
        ge=1024,
        description="Request body bytes one process holds at once; past it new requests get "
        "503 with Retry-After. Default: twice max_body_bytes.",
    )
    queue_size: int = Field(default=100_000, ge=100, description="Log queue bound, in rows.")
    flush_rows: int = Field(default=2_000, ge=1, description="Write a batch at this many rows…")
    flush_interval: Duration = Field(
        default=timedelta(milliseconds=20), description="…or after this long."
    )
    enqueue_timeout: Duration = Field(
        default=timedelta(seconds=2), description="Wait for queue room, then answer 503."
    )

    @model_validator(mode="after")
    def _one_body_fits(self) -> ApiConfig:
        if self.max_body_bytes_in_flight is None:
            self.max_body_bytes_in_flight = 2 * self.max_body_bytes
        elif self.max_body_bytes_in_flight < self.max_body_bytes:
            # else a body within max_body_bytes could never be accepted
            raise ValueError(
                f"max_body_bytes_in_flight ({self.max_body_bytes_in_flight}) must be at least "
                f"max_body_bytes ({self.max_body_bytes})"
            )
        return self


class DashboardConfig(_Strict):
    """Where the dashboard lives, for links in alert messages. (The dashboard itself reads
    only the API; its cache time is ``DRIFTSCOPE_DASHBOARD_CACHE_TTL``.)"""

    url: str | None = None


class RetentionConfig(_Strict):
    """How long predictions, reports and alert history are kept."""

    keep: Duration | None = Field(default=None, description="Delete data older than this.")
    every: Duration = Field(default=timedelta(hours=1), description="How often to prune.")
    batch_size: int = Field(default=10_000, ge=100)


class DriftscopeConfig(_Strict):
    """The whole configuration file."""

    models: list[ModelConfig] = Field(min_length=1)
    monitors: list[MonitorConfig] = Field(default_factory=list)
    notifiers: list[dict[str, Any]] = Field(default_factory=list)
    store: dict[str, Any] = Field(default_factory=lambda: {"type": "sql"})
    api: ApiConfig = Field(default_factory=ApiConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    profile_cache_size: int = Field(default=4096, ge=16, description="Cached reference profiles.")
    threads: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=1,
        description="Threads a monitor run scores features on (default: cores, at most 4).",
    )

    # validated copies, filled in by load_config
    notifier_settings: list[NotifierSettings] = Field(default_factory=list, exclude=True)
    store_settings: StoreSettings = Field(default_factory=StoreSettings, exclude=True)
    source: Path | None = Field(default=None, exclude=True)

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(f"no model named {name!r}")

    def monitor(self, name: str) -> MonitorConfig:
        for monitor in self.monitors:
            if monitor.name == name:
                return monitor
        raise KeyError(f"no monitor named {name!r}")

    def notifier(self, name: str) -> NotifierSettings:
        for notifier in self.notifier_settings:
            if notifier.name == name:
                return notifier
        raise KeyError(f"no notifier named {name!r}")


def interpolate(value: Any, env: dict[str, str], path: str, problems: list[tuple[str, str]]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a YAML document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, _join(path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append((path, f"environment variable {name} is not set"))
        return ""

    return _ENV.sub(substitute, value)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _location(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        out = f"{out}[{part}]" if isinstance(part, int) else _join(out, part)
    return out


def _pydantic_problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        problems.append((_location(prefix, loc), message))
    return problems


@overload
def _validate_component(
    plugins: PluginManager,
    kind: Literal["detector"],
    block: dict[str, Any],
    where: str,
    problems: list[tuple[str, str]],
) -> DetectorSettings | None: ...
@overload
def _validate_component(
    plugins: PluginManager,
    kind: Literal["store"],
    block: dict[str, Any],
    where: str,
    problems: list[tuple[str, str]],
) -> StoreSettings | None: ...
@overload
def _validate_component(
    plugins: PluginManager,
    kind: Literal["notifier"],
    block: dict[str, Any],
    where: str,
    problems: list[tuple[str, str]],
) -> NotifierSettings | None: ...
def _validate_component(
    plugins: PluginManager,
    kind: ComponentKind,
    block: dict[str, Any],
    where: str,
    problems: list[tuple[str, str]],
) -> DetectorSettings | StoreSettings | NotifierSettings | None:
    type_name = block.get("type")
    if not isinstance(type_name, str):
        problems.append(
            (f"{where}.type", f"required: the {kind} type, one of {plugins.names(kind)}")
        )
        return None
    try:
        component = plugins.get(kind, type_name)
    except (UnknownPluginError, PluginContractError) as exc:
        problems.append((f"{where}.type", str(exc)))
        return None
    try:
        return component.Settings.model_validate({**block, "type": type_name.strip().lower()})
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, where))
        return None


def parse_config(
    document: Any,
    plugins: PluginManager,
    *,
    source: Path | None = None,
    env: dict[str, str] | None = None,
    require_files: bool = False,
) -> DriftscopeConfig:
    """Validate a parsed YAML document; raise :class:`ConfigError` listing every problem.

    Every problem is found in one pass, each with its location: the document's shape, each
    detector, notifier and store block against its plugin's settings (checked even where the
    shape is wrong elsewhere, so a bad ``every`` does not hide an unknown detector type), the
    names one block refers to in another and, with ``require_files``, each model's file and
    reference CSV. Relative paths resolve against the folder of ``source`` (the config file),
    or the current folder for a document without one.
    """
    where_from = str(source) if source else None
    if not isinstance(document, dict):
        raise ConfigError(
            [("", "the file must be a YAML mapping with models: and monitors:")], where_from
        )
    problems: list[tuple[str, str]] = []
    document = interpolate(document, dict(os.environ) if env is None else env, "", problems)
    config: DriftscopeConfig | None
    try:
        config = DriftscopeConfig.model_validate(document)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc))
        config = None

    base = source.parent if source else Path.cwd()
    blocks = _DocumentBlocks(document)
    _check_unique("models", [m.get("name") for m in blocks.models], problems)
    _check_unique("monitors", [m.get("name") for m in blocks.monitors], problems)
    store_settings = (
        _validate_component(plugins, "store", blocks.store, "store", problems)
        if blocks.store is not None
        else None
    )
    notifier_settings = [
        _validate_component(plugins, "notifier", block, f"notifiers[{i}]", problems)
        for i, block in enumerate(blocks.notifiers)
    ]
    _check_unique("notifiers", [n.get("name") for n in blocks.notifiers], problems)

    model_names = {m.get("name") for m in blocks.models}
    notifier_names = {n.get("name") for n in blocks.notifiers}
    detector_settings: list[list[DetectorSettings | None]] = []
    for i, monitor in enumerate(blocks.monitors):
        where = f"monitors[{i}]"
        model = monitor.get("model")
        if isinstance(model, str) and model not in model_names:
            problems.append((f"{where}.model", _unknown("model", model, model_names)))
        detectors = monitor.get("detectors")
        detector_settings.append(
            [
                _validate_component(plugins, "detector", block, f"{where}.detectors[{j}]", problems)
                for j, block in enumerate(detectors if isinstance(detectors, list) else [])
                if isinstance(block, dict)
            ]
        )
        notify = monitor.get("notify")
        for j, name in enumerate(notify if isinstance(notify, list) else []):
            if isinstance(name, str) and name not in notifier_names:
                problems.append(
                    (f"{where}.notify[{j}]", _unknown("notifier", name, notifier_names))
                )
    if require_files:
        problems.extend(_missing_model_files(blocks.models, base))
    if problems:
        raise ConfigError(problems, where_from)
    assert config is not None  # a document that failed validation has problems

    config.store_settings = store_settings or StoreSettings()
    config.notifier_settings = [n for n in notifier_settings if n is not None]
    for monitor_config, settings in zip(config.monitors, detector_settings, strict=True):
        monitor_config.detector_settings = [d for d in settings if d is not None]
    # one place for every path of the file: models, references, the store's SQLite file
    # and any Path setting of a plugin, all against the config's folder
    resolve_settings_paths(config, base)
    # keep the validated blocks, whose secrets are SecretStr, instead of the raw YAML text
    config.store = config.store_settings.model_dump()
    config.notifiers = [n.model_dump() for n in config.notifier_settings]
    config.source = source
    return config


class _DocumentBlocks:
    """The blocks of a raw document that are mappings, wherever its shape is wrong, so that
    each can be checked against its plugin even when the document as a whole is invalid."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.models = _mappings(document.get("models"))
        self.monitors = _mappings(document.get("monitors"))
        self.notifiers = _mappings(document.get("notifiers"))
        store = document.get("store", {"type": "sql"})
        self.store: dict[str, Any] | None = store if isinstance(store, dict) else None


def _mappings(value: Any) -> list[dict[str, Any]]:
    # a non-mapping item is reported by the shape check; keep indexes of the rest right by
    # standing an empty mapping in for it
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


def _missing_model_files(models: list[dict[str, Any]], base: Path) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for i, model in enumerate(models):
        for key in ("path", "reference"):
            value = model.get(key)
            if not isinstance(value, str) or not value:
                continue
            path = resolve_path(Path(value), base)
            if not path.exists():
                problems.append((f"models[{i}].{key}", f"file not found: {path}"))
            elif not path.is_file():
                problems.append((f"models[{i}].{key}", f"not a file: {path}"))
    return problems


def _unknown(kind: str, name: str, available: set[Any]) -> str:
    from driftscope.core.plugin_system.manager import unknown_name_message

    return unknown_name_message(kind, name, [a for a in available if isinstance(a, str)])


def _check_unique(section: str, names: list[Any], problems: list[tuple[str, str]]) -> None:
    seen: set[Any] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue  # a missing or malformed name is the shape check's problem
        if name in seen:
            problems.append((f"{section}[{i}].name", f"duplicate name {name!r}"))
        seen.add(name)


# A config file is a few kilobytes. These bounds stop a hostile file before it costs time or
# memory: YAML aliases (``*name``) can make a 450-byte file stand for billions of values, which
# interpolation and validation would then walk one by one.
MAX_CONFIG_BYTES = 1 << 20
MAX_EXPANDED_SIZE = 2 * MAX_CONFIG_BYTES  # values plus their characters, aliases expanded
MAX_DEPTH = 100

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_config(
    path: Path | str,
    plugins: PluginManager,
    env: dict[str, str] | None = None,
    *,
    require_files: bool = False,
) -> DriftscopeConfig:
    """Read and validate a YAML config file (see :func:`parse_config`)."""
    path = Path(path)
    document = read_yaml(path)
    return parse_config(
        document, plugins, source=path.resolve(), env=env, require_files=require_files
    )


def read_yaml(path: Path) -> Any:
    """Parse a YAML file within the size, alias-expansion and nesting bounds; raise
    :class:`ConfigError` with the line and column of the problem."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([("", f"cannot read the file: {exc.strerror}")], str(path)) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            [("", f"the file is larger than the limit of {MAX_CONFIG_BYTES} bytes")], str(path)
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [("", f"not UTF-8 text: invalid byte at offset {exc.start}")], str(path)
        ) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problem = _check_expansion(node)
        if problem is not None:
            raise ConfigError([problem], str(path))
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([(where, f"not valid YAML: {reason}")], str(path)) from None
    except RecursionError:
        # only the pure-Python parser recurses; libyaml stops at its own nesting limit
        raise ConfigError(
            [("", f"not valid YAML: nested deeper than {MAX_DEPTH} levels")], str(path)
        ) from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node) -> tuple[str, str] | None:
    """The first node whose value, with every alias expanded, is too large or too deep, or
    an alias that contains itself; None when the document is within bounds.

    Each distinct node is measured once (an alias shares its anchor's node), so this takes
    time linear in the file, however far the aliases would expand.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth)
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            children = _children(node)
            size = 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
            depth = 1
            for child in children:
                child_size, child_depth = sizes[id(child)]
                size += child_size
                depth = max(depth, child_depth + 1)
            sizes[key] = (size, depth)
            if size > MAX_EXPANDED_SIZE:
                return (
                    _mark(node),
                    f"this value expands to more than {MAX_EXPANDED_SIZE} values and characters "
                    "(through YAML aliases such as *name?)",
                )
            if depth > MAX_DEPTH:
                return (_mark(node), f"values are nested deeper than {MAX_DEPTH} levels")
            continue
        if key in sizes:
            continue
        if key in on_path:
            return (_mark(node), "an alias refers to a value that contains it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _mark(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"
