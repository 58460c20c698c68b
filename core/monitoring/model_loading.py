"""Loading models safely, their feature schema, and their labelled reference data.

skops files load by default, and only when every type in them is trusted: the types skops
itself trusts by default, the two in :data:`IMPLICITLY_TRUSTED`, and the full names the config
lists in ``trusted_types``. Names are matched whole, never by module prefix: a prefix such as
``numpy.`` also covers ``numpy.testing.runstring``, which runs any code. joblib/pickle files run
code when loaded, so they load only when the config marks the model ``trusted: true``.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftscope.core.config.yaml_file import ModelConfig
from driftscope.core.contracts.store import FeatureSpec, ModelSchema
from driftscope.core.contracts.types import Task
from driftscope.core.errors import ConfigError, DriftscopeError, ModelLoadError
from driftscope.core.monitoring.model_input import ModelInput, check_feature_names

TREE_TYPE = "sklearn.tree._tree.Tree"
# Trusted on top of skops' own defaults, so that random forests and gradient boosting load
# without trusted_types. Neither is callable code: ``numpy.dtype`` only describes an array,
# and a Tree holds node arrays. skops leaves Tree out because scikit-learn follows its node
# indices without bounds checks; _check_trees therefore checks every index before the model
# is used.
IMPLICITLY_TRUSTED = frozenset({"numpy.dtype", TREE_TYPE})
PICKLE_SUFFIXES = {".joblib", ".pkl", ".pickle"}
_TREE_LEAF = -1


#: The one text form of each boolean class label, whatever spelling it arrived in.
BOOLEAN_LABELS = {"true": "true", "false": "false"}


def class_label(value: Any) -> str:
    """The text form of a class label, so ``1``, ``1.0`` and ``"1"`` compare equal where they
    mean the same class, and so do ``True``, ``"True"``, ``"TRUE"`` and ``"true"`` (all
    ``"true"``): a reference CSV that pandas reads as booleans, a JSON ``true`` and the text
    ``"True"`` a client copied from that CSV name one class."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, str):
        return BOOLEAN_LABELS.get(value.lower(), value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def read_categories(path: Path, columns: list[str]) -> dict[str, np.ndarray]:
    """Categorical columns of a reference CSV as their text, exactly as written.

    pandas' default parsing would turn ``01`` into ``1``, ``1.50`` into ``1.5``, ``True``
    into a boolean and ``NA``, ``null`` or ``None`` into missing values, while a client sends
    (and the store keeps) the category's text as it is. Only an empty field is missing
    (``None``), by the rule every window follows too (see ``missing_categories``).
    """
    if not columns:
        return {}
    text = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)
    return {
        name: np.array([v if v != "" else None for v in text[name].tolist()], dtype=object)
        for name in columns
    }


@dataclass
class ReferenceData:
    """The labelled reference rows of a model, column by column, with the model's own
    predictions on them. ``digest`` identifies the content (reference and model files)."""

    digest: str
    columns: dict[str, np.ndarray]
    labels: np.ndarray | None
    predictions: np.ndarray
    probabilities: np.ndarray | None

    @property
    def rows(self) -> int:
        return len(self.predictions)


def file_digest(*paths: Path | None) -> str:
    """sha256 over the bytes of some files, for cache keys."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:32]


def load_estimator(config: ModelConfig) -> Any:
    """Load a model file, refusing untrusted content; raise :class:`ModelLoadError`."""
    path = config.path
    assert path is not None
    if not path.exists():
        raise ModelLoadError(f"model {config.name!r}: file not found: {path}")
    if path.suffix in PICKLE_SUFFIXES:
        if not config.trusted:
            raise ModelLoadError(
                f"model {config.name!r}: {path.name} is a pickle; loading it runs code. Save it "
                "with skops (skops.io.dump) or set trusted: true if you made the file yourself"
            )
        import joblib

        try:
            return joblib.load(path)
        except Exception as exc:
            raise ModelLoadError(f"model {config.name!r}: cannot load {path}: {exc}") from exc
    import skops.io as sio

    # read once: the bytes checked are the bytes loaded, even if the file changes meanwhile
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"model {config.name!r}: cannot read {path}: {exc.strerror}") from None
    try:
        # builds skops' description of the file without importing or calling anything in it
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise ModelLoadError(f"model {config.name!r}: {path} is not a skops file: {exc}") from exc
    allowed = IMPLICITLY_TRUSTED | set(config.trusted_types)
    refused = [t for t in untrusted if t not in allowed]
    if refused:
        raise ModelLoadError(
            f"model {config.name!r}: {path.name} contains types that are not trusted: "
            f"{', '.join(refused)}. Add a type's full name to trusted_types only if you made "
            "the file yourself: loading it may run code"
        )
    try:
        estimator = sio.loads(data, trusted=list(untrusted))
    except Exception as exc:
        raise ModelLoadError(f"model {config.name!r}: cannot load {path}: {exc}") from exc
    problem = _check_trees(estimator)
    if problem:
        raise ModelLoadError(f"model {config.name!r}: {path.name} is not a valid model: {problem}")
    return estimator


def _check_trees(estimator: Any) -> str | None:
    """Why the decision trees in a loaded model are unsafe to predict with, or None.

    scikit-learn's tree code follows child and feature indices without bounds checks (and
    ensembles call it with input checks off), so a crafted file could make a prediction read
    outside its arrays, crash the process or loop forever. Every tree must be well formed:
    children after their parent and inside the tree, features inside the input, and each
    tree as wide as the ensemble that feeds it.
    """
    from sklearn.tree import BaseDecisionTree
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack: list[Any] = [estimator]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | type):
            continue
        seen.add(id(obj))
        if isinstance(obj, Tree):
            problem = _check_tree_nodes(obj)
            if problem:
                return problem
            continue
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif hasattr(obj, "__dict__"):
            if isinstance(obj, BaseDecisionTree):
                tree = getattr(obj, "tree_", None)
                if tree is not None and getattr(tree, "n_features", None) != getattr(
                    obj, "n_features_in_", None
                ):
                    return f"a {type(obj).__name__}'s tree and its n_features_in_ differ"
            problem = _check_ensemble(obj, BaseDecisionTree)
            if problem:
                return problem
            stack.extend(vars(obj).values())
    return None


def _check_tree_nodes(tree: Any) -> str | None:
    count, capacity = int(tree.node_count), int(tree.capacity)
    if not 0 < count <= capacity:
        return f"a tree has {count} nodes and room for {capacity}"
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    index = np.arange(count)
    leaf = left == _TREE_LEAF
    if np.any(leaf != (right == _TREE_LEAF)):
        return "a tree node has only one child"
    inner = ~leaf
    for children in (left[inner], right[inner]):
        # a child after its parent also rules out cycles, which would never end a prediction
        if np.any(children <= index[inner]) or np.any(children >= count):
            return "a tree node's child index is out of range"
    if np.any(feature[inner] < 0) or np.any(feature[inner] >= int(tree.n_features)):
        return "a tree node's feature index is out of range"
    return None


def _check_ensemble(obj: Any, tree_class: type) -> str | None:
    members = getattr(obj, "estimators_", None)
    if members is None:
        return None
    width = getattr(obj, "n_features_in_", None)
    if isinstance(members, np.ndarray):
        members = members.ravel().tolist()
    if not isinstance(members, list | tuple):
        return None
    subsets = getattr(obj, "estimators_features_", None)
    for i, member in enumerate(members):
        if not isinstance(member, tree_class):
            continue
        # bagging and isolation forests give each tree a subset of the columns
        expected = width if subsets is None else _length(subsets, i)
        if expected is None or getattr(member, "n_features_in_", None) != expected:
            return f"tree {i} of a {type(obj).__name__} does not match the ensemble's input width"
    return None


def _length(subsets: Any, i: int) -> int | None:
    try:
        return len(subsets[i])
    except (TypeError, IndexError, KeyError):
        return None


class ModelScoringError(DriftscopeError):
    """The model raised on some rows, or answered them with a number that is not finite.

    ``row`` is the first such row of the matrix scored (``None`` when the model fails on the
    rows together but on none alone); ``reason`` is one line, the model's own error message
    when it raised.
    """

    def __init__(self, model: str, row: int | None, reason: str) -> None:
        self.model = model
        self.row = row
        self.reason = reason
        where = "" if row is None else f" (row {row})"
        super().__init__(f"model {model!r} cannot score the rows{where}: {reason}")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line of at most ``limit`` characters: its type and message."""
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


class LoadedModel:
    """A configured model: its estimator (if it has a file), schema and reference data."""

    def __init__(
        self,
        config: ModelConfig,
        estimator: Any | None,
        reference: pd.DataFrame,
        reference_digest: str,
    ) -> None:
        self.config = config
        self.name = config.name
        self.estimator = estimator
        self.schema = _schema(config, estimator, reference)
        self.model_input = ModelInput.for_model(
            estimator, self.schema, f"models[{config.name}].features"
        )
        # the schema's classes are the estimator's classes_ as text, in predict_proba's
        # column order: looked up, not formatted row by row (a fifth of a batch's time)
        classes = getattr(estimator, "classes_", None)
        self._class_labels: np.ndarray | None = None
        known = self.schema.classes
        if self.has_proba and classes is not None and known and len(classes) == len(known):
            self._class_labels = np.array(self.schema.classes, dtype=object)
        categorical = [f.name for f in self.schema.features if f.kind == "categorical"]
        self.reference = self._reference_data(
            reference, read_categories(config.reference, categorical), reference_digest
        )

    # -- prediction ----------------------------------------------------------------------
    @property
    def has_proba(self) -> bool:
        return (
            self.estimator is not None
            and hasattr(self.estimator, "predict_proba")
            and (self.schema.task == "classification")
        )

    @property
    def takes_dataframe(self) -> bool:
        """Whether the model is called with a pandas DataFrame (see :mod:`model_input`)."""
        return self.model_input.frame

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Predict rows in schema feature order; classes come back as text labels.

        A model that raises, or answers a row with a probability or regression value that is
        not finite, is a :class:`ModelScoringError` naming the first such row.
        """
        if self.estimator is None:
            raise ModelLoadError(f"model {self.name!r} has no model file; it only logs records")
        try:
            predictions, proba = self._call(X, self.model_input)
        except Exception as exc:
            raise ModelScoringError(self.name, self._first_failing_row(X), one_line(exc)) from exc
        outputs = proba if proba is not None else predictions
        if outputs.dtype == np.float64 and not np.isfinite(outputs).all():
            finite = np.isfinite(outputs)
            row = int(np.flatnonzero(~(finite if finite.ndim == 1 else finite.all(axis=1)))[0])
            what = "probability" if proba is not None else "prediction"
            raise ModelScoringError(self.name, row, f"the model answered a non-finite {what}")
        return predictions, proba

    def _call(self, X: np.ndarray, model_input: ModelInput) -> tuple[np.ndarray, np.ndarray | None]:
        estimator = self.estimator
        assert estimator is not None
        features = model_input(X)
        # a model's own overflow on an absurd but finite value (1e308 / 0.01) is no warning:
        # what it leads to, an error or a non-finite answer, is the row's 422
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # a model fitted on a DataFrame warns for every ndarray; the columns are in order
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            if self.has_proba:
                proba = np.asarray(estimator.predict_proba(features), dtype=np.float64)
                if self._class_labels is not None:
                    return self._class_labels[np.argmax(proba, axis=1)], proba
                raw = estimator.classes_[np.argmax(proba, axis=1)]
                return np.array([class_label(v) for v in raw], dtype=object), proba
            raw = estimator.predict(features)
        if self.schema.task == "classification":
            return np.array([class_label(v) for v in raw], dtype=object), None
        return np.asarray(raw, dtype=np.float64), None

    def _first_failing_row(self, X: np.ndarray) -> int | None:
        """The first row the model fails on, found by bisecting on prefixes of ``X``
        (log2(rows) calls); ``None`` when it fails on no row alone."""

        def fails(rows: np.ndarray) -> bool:
            try:
                self._call(rows, self.model_input)
            except Exception:
                return True
            return False

        low, high = 1, len(X)  # the shortest failing prefix has between low and high rows
        while low < high:
            middle = (low + high) // 2
            if fails(X[:middle]):
                high = middle
            else:
                low = middle + 1
        row = high - 1
        return row if len(X) and fails(X[row : row + 1]) else None

    def feature_matrix(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Stack named columns into the model's input matrix, in schema order."""
        kinds = {f.kind for f in self.schema.features}
        dtype = object if "categorical" in kinds else np.float64
        return np.column_stack(
            [np.asarray(columns[n], dtype=dtype) for n in self.schema.feature_names]
        )

    # -- reference -----------------------------------------------------------------------
    def _reference_data(
        self, frame: pd.DataFrame, categories: dict[str, np.ndarray], digest: str
    ) -> ReferenceData:
        columns: dict[str, np.ndarray] = {}
        for feature in self.schema.features:
            if feature.kind == "numeric":
                series = frame[feature.name]
                columns[feature.name] = pd.to_numeric(series, errors="coerce").to_numpy(np.float64)
            else:
                columns[feature.name] = categories[feature.name]
        labels = None
        if self.config.target:
            labels = self._labels(frame[self.config.target].to_numpy())
        probabilities = None
        if self.estimator is not None:
            matrix = self.feature_matrix(columns)
            predictions, probabilities = self._predict_reference(frame, matrix)
            if self.model_input.frame and self._array_answers_alike(
                matrix, predictions, probabilities
            ):
                self.model_input = self.model_input.as_array()
        else:
            predictions = self._labels(frame[self.config.prediction_column].to_numpy())
            probabilities = _reference_probabilities(self.config, self.schema, frame)
        return ReferenceData(digest, columns, labels, predictions, probabilities)

    def _predict_reference(
        self, frame: pd.DataFrame, matrix: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            return self.predict(matrix)
        except ModelScoringError as exc:
            source = self.config.reference.name
            if exc.row is None:
                where = f"its rows in {source} (on no row alone)"
            else:
                values = {n: frame[n].iloc[exc.row] for n in self.schema.feature_names}
                shown = ", ".join(f"{n}={_cell(v)}" for n, v in values.items())
                if len(shown) > 200:
                    shown = shown[:199] + "…"
                where = f"row {exc.row + 1} of {source} (data rows counted from 1): {shown}"
            raise ConfigError(
                [
                    (
                        f"models[{self.name}].reference",
                        f"model {self.name!r} fails on the reference, first on {where}; "
                        f"the model says: {exc.reason}",
                    )
                ]
            ) from None

    def _array_answers_alike(
        self, matrix: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray | None
    ) -> bool:
        """Whether the model answers the reference from an array exactly as it does from a
        DataFrame: then the array, which scikit-learn checks far faster, is what it gets."""
        try:
            alike, proba = self._call(matrix, self.model_input.as_array())
        except Exception:
            return False
        if proba is None or probabilities is None:
            if proba is not probabilities:
                return False
        elif not np.array_equal(proba, probabilities, equal_nan=True):
            return False
        if predictions.dtype == np.float64:
            return bool(np.array_equal(alike, predictions, equal_nan=True))
        return bool(np.array_equal(alike, predictions))

    def _labels(self, values: np.ndarray) -> np.ndarray:
        if self.schema.task == "classification":
            # pandas reads an empty field as NaN: missing, as an empty category is
            return np.array([None if pd.isna(v) else class_label(v) for v in values], dtype=object)
        return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=np.float64)


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating) and np.isnan(value):
        return "(empty)"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _schema(config: ModelConfig, estimator: Any | None, frame: pd.DataFrame) -> ModelSchema:
    where = f"models[{config.name}]"
    if config.features:
        features = tuple(FeatureSpec(f.name, f.kind) for f in config.features)
    elif estimator is not None and hasattr(estimator, "feature_names_in_"):
        features = tuple(
            FeatureSpec(
                str(n), "numeric" if pd.api.types.is_numeric_dtype(frame[str(n)]) else "categorical"
            )
            if str(n) in frame.columns
            else FeatureSpec(str(n))
            for n in estimator.feature_names_in_
        )
    else:
        skip = {
            config.target,
            config.prediction_column,
            *(config.probability_columns or {}).values(),
        }
        features = tuple(
            FeatureSpec(
                str(c), "numeric" if pd.api.types.is_numeric_dtype(frame[c]) else "categorical"
            )
            for c in frame.columns
            if c not in skip
        )
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None:
        names = [f.name for f in features]
        check_feature_names([str(n) for n in fitted], names, f"{where}.features")
    missing = [f.name for f in features if f.name not in frame.columns]
    if missing:
        raise ConfigError(
            [(f"{where}.reference", f"reference CSV lacks feature columns: {', '.join(missing)}")]
        )
    for column in (config.target, config.prediction_column):
        if column and column not in frame.columns:
            raise ConfigError([(f"{where}.reference", f"reference CSV has no column {column!r}")])
    absent = [c for c in (config.probability_columns or {}).values() if c not in frame.columns]
    if absent:
        raise ConfigError(
            [(f"{where}.probability_columns", f"reference CSV has no column {absent[0]!r}")]
        )
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and fitted is None and n_in != len(features):
        raise ConfigError(
            [
                (
                    f"{where}.features",
                    f"the model expects {n_in} features, the schema has {len(features)}",
                )
            ]
        )
    task: Task = config.task or _infer_task(estimator, frame, config)
    classes = None
    if task == "classification":
        if estimator is not None and hasattr(estimator, "classes_"):
            classes = tuple(class_label(c) for c in estimator.classes_)
        elif config.probability_columns:
            classes = tuple(sorted(class_label(k) for k in config.probability_columns))
            for column in (config.target, config.prediction_column):
                if not column:
                    continue
                others = sorted({class_label(v) for v in frame[column].dropna()} - set(classes))
                if others:
                    raise ConfigError(
                        [
                            (
                                f"{where}.probability_columns",
                                f"column {column!r} holds classes without a probability "
                                f"column: {', '.join(others[:5])}",
                            )
                        ]
                    )
        else:
            column = config.target or config.prediction_column
            classes = tuple(sorted({class_label(v) for v in frame[column].dropna()}))
    elif config.probability_columns:
        raise ConfigError(
            [(f"{where}.probability_columns", "a regressor has no class probabilities")]
        )
    return ModelSchema(config.name, features, task, classes)


def _reference_probabilities(
    config: ModelConfig, schema: ModelSchema, frame: pd.DataFrame
) -> np.ndarray | None:
    """The reference's class probabilities from ``probability_columns``, in class order:
    numbers in [0, 1] or missing, else a located config error naming the first bad row."""
    if not config.probability_columns or schema.classes is None:
        return None
    by_class = {class_label(k): v for k, v in config.probability_columns.items()}
    out = np.empty((len(frame), len(schema.classes)), dtype=np.float64)
    for j, cls in enumerate(schema.classes):
        column = by_class[cls]
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
        bad = (~np.isnan(values) & ((values < 0) | (values > 1))) | (
            frame[column].notna().to_numpy() & np.isnan(values)
        )
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ConfigError(
                [
                    (
                        f"models[{config.name}].probability_columns.{cls}",
                        f"column {column!r}, data row {row + 1}: "
                        f"{frame[column].iloc[row]!r} is not a probability in [0, 1]",
                    )
                ]
            )
        out[:, j] = values
    return out


def _infer_task(estimator: Any | None, frame: pd.DataFrame, config: ModelConfig) -> Task:
    if estimator is not None:
        return "classification" if hasattr(estimator, "classes_") else "regression"
    column = frame[config.prediction_column]
    if pd.api.types.is_float_dtype(column) and column.nunique() > 20:
        return "regression"
    return "classification"


def load_model(config: ModelConfig) -> LoadedModel:
    """Load a configured model and its reference data; raise ModelLoadError/ConfigError."""
    estimator = load_estimator(config) if config.path is not None else None
    if not config.reference.exists():
        raise ModelLoadError(f"model {config.name!r}: reference file not found: {config.reference}")
    try:
        frame = pd.read_csv(config.reference)
    except Exception as exc:
        raise ModelLoadError(
            f"model {config.name!r}: cannot read {config.reference}: {exc}"
        ) from exc
    digest = file_digest(config.reference, config.path)
    return LoadedModel(config, estimator, frame, digest)
