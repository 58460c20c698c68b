"""The plugin's own tests: its detector and notifier keep driftscope's contracts.

``driftscope.testing`` runs each class the way driftscope will (generated edge cases,
several threads, JSON-stored details; a notification through ``send``) and fails with a
list of every broken promise. Run them with ``pytest`` in this folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from driftscope_example_plugin.detectors import MeanShiftDetector
from driftscope_example_plugin.notifiers import JsonlFileNotifier

from driftscope import DeliveryOutcome, FeatureSample
from driftscope.testing import check_detector, check_notifier, sample_notification


@pytest.mark.parametrize("threshold", [0.1, 0.5, 3.0])
def test_mean_shift_keeps_the_detector_contract(threshold: float) -> None:
    report = check_detector(MeanShiftDetector, {"threshold": threshold})
    assert any(step.startswith("thread safety") for step in report.passed)


def test_mean_shift_measures_in_reference_standard_deviations() -> None:
    detector = MeanShiftDetector(MeanShiftDetector.Settings(type="mean-shift", threshold=0.5))
    # reference 0, 2, 4, 6: mean 3, sample std sqrt(20/3); the window's mean is 5
    profile = detector.fit(FeatureSample("x", "numeric", np.array([0.0, 2.0, 4.0, 6.0])))
    result = detector.score(profile, FeatureSample("x", "numeric", np.array([4.0, 6.0])))
    assert result.statistic == pytest.approx(2.0 / np.sqrt(20.0 / 3.0))
    assert result.drifted


def test_jsonl_file_keeps_the_notifier_contract(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "alerts.jsonl"
    check_notifier(JsonlFileNotifier, {"path": str(path)})
    # the check sent an alert and a test message: one JSON object a line, in order
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    expected = [sample_notification(), sample_notification(test=True)]
    assert [line["test"] for line in lines] == [n.test for n in expected]
    assert [line["state"] for line in lines] == [n.state for n in expected]
    assert lines[0]["changes"][1]["feature"] == "naïve ✓ feature"


def test_jsonl_file_asks_to_retry_when_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    notifier = JsonlFileNotifier(
        JsonlFileNotifier.Settings(name="audit", path=blocker / "alerts.jsonl")
    )
    result = notifier.send(sample_notification())
    assert result.outcome is DeliveryOutcome.TRANSIENT and result.retry_after is None
    assert result.error and "not-a-folder" in result.error
