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
from driftscope.core.errors import ConfigError, ModelLoadError

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

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Predict rows in schema feature order; classes come back as text labels."""
        if self.estimator is None:
            raise ModelLoadError(f"model {self.name!r} has no model file; it only logs records")
        with warnings.catch_warnings():
            # models fitted on DataFrames warn for every ndarray; the columns are in order
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            proba = self.estimator.predict_proba(X) if self.has_proba else None
            if proba is not None:
                classes = self.estimator.classes_
                raw = classes[np.argmax(proba, axis=1)]
            else:
                raw = self.estimator.predict(X)
        if self.schema.task == "classification":
            return np.array([class_label(v) for v in raw], dtype=object), proba
        return np.asarray(raw, dtype=np.float64), None

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
            predictions, probabilities = self.predict(self.feature_matrix(columns))
        else:
            predictions = self._labels(frame[self.config.prediction_column].to_numpy())
            probabilities = _reference_probabilities(self.config, self.schema, frame)
        return ReferenceData(digest, columns, labels, predictions, probabilities)

    def _labels(self, values: np.ndarray) -> np.ndarray:
        if self.schema.task == "classification":
            # pandas reads an empty field as NaN: missing, as an empty category is
            return np.array([None if pd.isna(v) else class_label(v) for v in values], dtype=object)
        return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=np.float64)


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
    if n_in is not None and n_in != len(features):
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
