"""Model loading: skops by default with trusted types only, pickles only when trusted."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from driftscope.core.config.yaml_file import ModelConfig
from driftscope.core.errors import ConfigError, ModelLoadError
from driftscope.core.monitoring.model_loading import class_label, load_model
from support.factories import demo_model


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
