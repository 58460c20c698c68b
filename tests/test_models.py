"""Model loading: skops by default with trusted types only, pickles only when trusted."""

from __future__ import annotations

import re
import shlex
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from pydantic import ValidationError
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.tree import DecisionTreeClassifier

from driftscope.core.config.yaml_file import ModelConfig
from driftscope.core.errors import ConfigError, ModelLoadError
from driftscope.core.monitoring.model_loading import class_label, load_model
from support.factories import demo_model, hostile_skops


def config(tmp_path, **values) -> ModelConfig:
    demo = demo_model(tmp_path)
    base = {
        "name": "cancer",
        "path": demo.model_path,
        "reference": demo.reference_path,
        "target": "label",
    }
    return ModelConfig.model_validate({**base, **values})


def test_the_demo_model_loads_with_schema_and_reference(tmp_path):
    model = load_model(config(tmp_path))
    assert model.schema.task == "classification"
    assert model.schema.classes == ("0", "1")
    assert len(model.schema.features) == 30
    assert model.schema.features[0].name == "mean radius"
    ref = model.reference
    assert ref.rows > 100 and ref.probabilities.shape == (ref.rows, 2)
    accuracy = float(np.mean(ref.labels == ref.predictions))
    assert accuracy > 0.9
    predictions, proba = model.predict(model.feature_matrix(ref.columns)[:3])
    assert list(predictions) == list(ref.predictions[:3])
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_a_pickle_is_refused_unless_trusted(tmp_path):
    demo = demo_model(tmp_path)
    estimator = sio.load(demo.model_path, trusted=sio.get_untrusted_types(file=demo.model_path))
    path = tmp_path / "model.joblib"
    joblib.dump(estimator, path)
    with pytest.raises(ModelLoadError, match="loading it runs code"):
        load_model(config(tmp_path, path=path))
    assert load_model(config(tmp_path, path=path, trusted=True)).schema.classes == ("0", "1")


def _shout(x):
    return x


def test_untrusted_types_in_a_skops_file_are_named(tmp_path):
    path = tmp_path / "odd.skops"
    sio.dump(FunctionTransformer(_shout), path)
    with pytest.raises(ModelLoadError, match=r"not trusted: .*_shout"):
        load_model(config(tmp_path, path=path))


def test_a_missing_file_and_a_wrong_reference_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="file not found"):
        load_model(config(tmp_path, path=tmp_path / "nope.skops"))
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,0\n")
    with pytest.raises(ConfigError, match="lacks feature columns"):
        load_model(config(tmp_path, reference=bad))


def test_a_records_only_model_uses_the_prediction_column(tmp_path):
    ref = tmp_path / "ref.csv"
    ref.write_text("x,colour,pred,label\n1.0,red,1,1\n2.0,blue,0,1\n3.5,red,1,0\n")
    model = load_model(
        ModelConfig(name="ext", reference=ref, target="label", prediction_column="pred")
    )
    assert [(f.name, f.kind) for f in model.schema.features] == [
        ("x", "numeric"),
        ("colour", "categorical"),
    ]
    assert model.schema.classes == ("0", "1")
    assert list(model.reference.predictions) == ["1", "0", "1"]
    with pytest.raises(ModelLoadError, match="no model file"):
        model.predict(np.zeros((1, 2)))


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1"), (1.0, "1"), ("1", "1"), (True, "true"), (np.int64(2), "2"), (0.5, "0.5")],
)
def test_class_labels_compare_as_text(value, text):
    assert class_label(value) == text


def _payloads(marker) -> list[tuple[str, list[Any], str]]:
    """(callable, its arguments, skops loader): each writes ``marker`` when called."""
    write = f"open({str(marker)!r}, 'w').write('ran')"
    return [
        ("builtins.exec", [write], "ConstructorFromReduceNode"),
        ("builtins.eval", [write], "ConstructorFromReduceNode"),
        ("os.system", [f"touch {shlex.quote(str(marker))}"], "ConstructorFromReduceNode"),
        ("builtins.exec", [write], "LossNode"),
        # a module prefix such as "numpy." would let these through
        ("numpy.testing.runstring", [write, None], "ConstructorFromReduceNode"),
        ("sklearn.utils._testing.check_output", [["touch", str(marker)]], "LossNode"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_a_skops_file_that_calls_code_at_load_is_refused(tmp_path, case):
    marker = tmp_path / "payload-ran"
    call, args, loader = _payloads(marker)[case]
    demo = demo_model(tmp_path)
    path = hostile_skops(demo.model_path, tmp_path / "hostile.skops", call, args, loader=loader)

    with pytest.raises(ModelLoadError, match=rf"not trusted: .*{re.escape(call)}"):
        load_model(config(tmp_path, path=path))
    assert not marker.exists()

    # the payload is live: skops runs it once told to trust the callable
    sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert marker.exists()


def test_trusted_types_take_full_names_only(tmp_path):
    with pytest.raises(ValidationError, match=r"trusted_types\.0\n.*not a full type name"):
        config(tmp_path, trusted_types=["builtins."])
    with pytest.raises(ValidationError, match="not a full type name"):
        config(tmp_path, trusted_types=["sklearn.*"])
    assert config(tmp_path, trusted_types=["a.B"]).trusted_types == ["a.B"]


def _frame(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "c": rng.choice(["x", "y", "z"], rows),
        }
    )
    return frame, (frame["a"] + (frame["c"] == "x") > 0.3).astype(int).to_numpy()


def _columns(model):
    # columns by position: driftscope passes the model an array in schema order
    return ColumnTransformer(
        [("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1]), ("cat", model, [2])]
    )


ORDINARY_MODELS = {
    "scaler+logistic": lambda: make_pipeline(
        ColumnTransformer([("num", StandardScaler(), [0, 1]), ("cat", OrdinalEncoder(), [2])]),
        LogisticRegression(),
    ),
    "onehot+gradient-boosting": lambda: make_pipeline(
        _columns(OneHotEncoder(handle_unknown="ignore")),
        GradientBoostingClassifier(n_estimators=10),
    ),
    "onehot+random-forest": lambda: make_pipeline(
        _columns(OneHotEncoder(handle_unknown="ignore")),
        RandomForestClassifier(n_estimators=10, random_state=0),
    ),
    "random-forest-regressor": lambda: make_pipeline(
        _columns(OrdinalEncoder()), RandomForestRegressor(n_estimators=5, random_state=0)
    ),
    "gradient-boosting-regressor": lambda: make_pipeline(
        _columns(OrdinalEncoder()), GradientBoostingRegressor(n_estimators=5)
    ),
}


@pytest.mark.parametrize("name", sorted(ORDINARY_MODELS))
def test_ordinary_pipelines_load_without_trusted_types(tmp_path, name):
    frame, labels = _frame()
    estimator = ORDINARY_MODELS[name]()
    regression = name.endswith("regressor")
    target = frame["a"].to_numpy() if regression else labels
    estimator.fit(frame.to_numpy(dtype=object), target)
    path = tmp_path / "model.skops"
    sio.dump(estimator, path)
    reference = tmp_path / "reference.csv"
    frame.assign(label=target).to_csv(reference, index=False)

    model = load_model(config(tmp_path, path=path, reference=reference))

    assert model.config.trusted_types == []
    assert model.schema.task == ("regression" if regression else "classification")
    expected = estimator.predict(frame.to_numpy(dtype=object))
    if regression:
        assert np.allclose(model.reference.predictions, expected)
    else:
        assert list(model.reference.predictions) == [class_label(v) for v in expected]


def _forest(tmp_path):
    frame, labels = _frame()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(frame[["a", "b"]], labels)
    reference = tmp_path / "reference.csv"
    frame[["a", "b"]].assign(label=labels).to_csv(reference, index=False)
    return forest, reference


def _child_out_of_range(forest):
    forest.estimators_[0].tree_.children_left[0] = 10**6


def _child_loops_to_root(forest):
    tree = forest.estimators_[1].tree_
    tree.children_right[0] = 0


def _feature_out_of_range(forest):
    tree = forest.estimators_[2].tree_
    tree.feature[0] = 7


def _tree_wider_than_the_forest(forest):
    frame, labels = _frame()
    wide = np.column_stack([frame[["a", "b"]].to_numpy()] * 3)
    forest.estimators_[0] = DecisionTreeClassifier(random_state=0).fit(wide, labels)


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (_child_out_of_range, "child index is out of range"),
        (_child_loops_to_root, "child index is out of range"),
        (_feature_out_of_range, "feature index is out of range"),
        (_tree_wider_than_the_forest, "does not match the ensemble's input width"),
    ],
)
def test_a_forest_with_a_crafted_tree_is_refused(tmp_path, corrupt, reason):
    forest, reference = _forest(tmp_path)
    good = tmp_path / "good.skops"
    sio.dump(forest, good)
    assert load_model(config(tmp_path, path=good, reference=reference)).schema.classes
    corrupt(forest)  # the tree's node arrays are views: this writes into the tree
    bad = tmp_path / "bad.skops"
    sio.dump(forest, bad)
    with pytest.raises(ModelLoadError, match=f"not a valid model: .*{reason}"):
        load_model(config(tmp_path, path=bad, reference=reference))
