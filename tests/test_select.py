"""method="auto" in the foundation: features, the rule set, and the recorded decision."""

import numpy as np
import pytest

import asirp
from asirp import Frame
from asirp.select import choose, features


def _noisy_ramp(noise: float, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:96]
    clean = 100 + 50 * np.sin(x / 9.0) * np.cos(y / 13.0)
    return Frame((clean + rng.normal(0, noise, clean.shape)).astype(np.float32), kind="image")


def test_noise_feature_tracks_the_true_noise():
    assert features(_noisy_ramp(5.0)).noise_sigma == pytest.approx(5.0, rel=0.15)
    assert features(_noisy_ramp(20.0)).noise_sigma == pytest.approx(20.0, rel=0.15)


def test_noisy_image_gets_a_calibrated_gaussian_wider_for_more_noise():
    weak, strong = choose(_noisy_ramp(3.0)), choose(_noisy_ramp(30.0))
    assert weak.method == strong.method == "gaussian"
    assert strong.parameters["sigma"] > weak.parameters["sigma"]
    assert any("J-invariant" in reason for reason in strong.reasons)


def test_clean_image_is_left_alone_with_a_reason():
    decision = choose(_noisy_ramp(0.0))
    assert decision.method == "identity"
    assert any("only risk bias" in reason for reason in decision.reasons)


def test_auto_records_the_decision_in_provenance():
    frame = _noisy_ramp(10.0)
    restored = asirp.restore(frame, "auto")
    selection = restored.history[-1].notes["selection"]
    assert selection["method"] == restored.history[-1].method
    assert selection["reasons"] and selection["features"]["kind"] == "image"
    assert "chosen:" in asirp.explain(frame).explain()


def test_user_parameters_override_the_choice():
    restored = asirp.restore(_noisy_ramp(30.0), "auto", sigma=0.5)
    assert restored.history[-1].parameters == {"sigma": 0.5}


def test_preferences_only_name_usable_methods():
    decision = choose(_noisy_ramp(30.0))
    assert set(decision.candidates) <= {m["name"] for m in asirp.methods()}
