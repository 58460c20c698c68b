"""How a model takes its rows: in which column order, and as a DataFrame or a NumPy array.

A model fitted on a pandas DataFrame knows its columns by name (``feature_names_in_``) and
may select them by name: a ``ColumnTransformer`` that picks ``["sex"]`` refuses a NumPy
array. Such a model is called with a DataFrame whose columns are in ``feature_names_in_``
order, numeric features as float64 and categorical ones as text, whatever order the config
lists the features in. A model fitted on an array gets an array, in schema order.

scikit-learn's checks of a DataFrame cost about 0.7 ms a call, several times what scoring
one row with a linear model costs, so :class:`~driftscope.core.monitoring.model_loading.
LoadedModel` switches a model fitted on a DataFrame to :meth:`ModelInput.as_array` when, at
start-up, the model answers the whole reference bit for bit the same from an array in the
same column order (the demo's scaler and logistic regression do; a pipeline that selects
columns by name raises instead, and keeps its DataFrame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from driftscope.core.contracts.store import ModelSchema
from driftscope.core.contracts.types import FeatureKind
from driftscope.core.errors import ConfigError


@dataclass(frozen=True)
class ModelInput:
    """Turns a matrix in schema order (what the API's validator and the reference give) into
    what the model was fitted on.

    ``columns`` are in the model's order; ``order`` holds the schema index of each (``None``
    when the orders agree); ``frame`` says whether the model gets a DataFrame.
    """

    columns: tuple[str, ...]
    kinds: tuple[FeatureKind, ...]
    order: np.ndarray | None
    frame: bool

    @classmethod
    def for_model(cls, estimator: Any, schema: ModelSchema, where: str) -> ModelInput:
        """The input of ``estimator`` for rows of ``schema``; a :class:`ConfigError` at
        ``where`` (``models[NAME].features``) naming the features the schema lacks and the
        ones the model was not fitted on."""
        names = schema.feature_names
        kinds = {f.name: f.kind for f in schema.features}
        fitted = getattr(estimator, "feature_names_in_", None)
        if fitted is None:
            return cls(tuple(names), tuple(kinds[n] for n in names), None, frame=False)
        columns = tuple(str(n) for n in fitted)
        check_feature_names(columns, names, where)
        index = {name: i for i, name in enumerate(names)}
        order = np.array([index[c] for c in columns], dtype=np.intp)
        same = bool(np.array_equal(order, np.arange(len(columns))))
        return cls(columns, tuple(kinds[c] for c in columns), None if same else order, frame=True)

    def as_array(self) -> ModelInput:
        """The same columns, passed as a NumPy array."""
        return replace(self, frame=False)

    def __call__(self, matrix: np.ndarray) -> np.ndarray | pd.DataFrame:
        """``matrix`` (rows × features in schema order: float64, or object when a feature is
        categorical) as the model's input."""
        if self.order is not None:
            matrix = matrix[:, self.order]
        if not self.frame:
            return matrix
        if matrix.dtype == np.float64:
            return pd.DataFrame(matrix, columns=list(self.columns), copy=False)
        data: dict[str, np.ndarray] = {}
        for i, (name, kind) in enumerate(zip(self.columns, self.kinds, strict=True)):
            column = matrix[:, i]
            # text stays text (pandas makes it its str dtype, as read_csv does); None is NaN
            data[name] = column.astype(np.float64) if kind == "numeric" else column
        return pd.DataFrame(data, columns=list(self.columns))


def check_feature_names(fitted: Sequence[str], schema: Sequence[str], where: str) -> None:
    """Raise a :class:`ConfigError` at ``where`` unless the schema has exactly the features
    the model was fitted on (``fitted``), in any order."""
    fitted_names, schema_names = set(fitted), set(schema)
    missing = [n for n in fitted if n not in schema_names]
    extra = [n for n in schema if n not in fitted_names]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"missing {', '.join(map(repr, missing))}")
    if extra:
        parts.append(f"not in the model: {', '.join(map(repr, extra))}")
    raise ConfigError(
        [
            (
                where,
                f"the features do not match the ones the model was fitted on "
                f"({', '.join(map(repr, fitted))}): {'; '.join(parts)}",
            )
        ]
    )
