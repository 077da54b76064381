"""The method contract, checked on every registered method (in the spirit of scikit-learn's
``check_estimator``): a new method is one file plus one registration, and this test picks it
up. For each method, on a small frame of a kind it declares, with some masked pixels:

* the output is float32, of the frame's shape (super-resolution: scaled), finite where measured;
* the input frame is untouched (data, mask, history);
* exactly one history step is appended, named after the method, its parameters JSON-serialisable;
* masked pixels stay masked (same mask; super-resolution: the mask scaled with the image);
* unknown and ill-typed parameters are :class:`~asirp.ParameterError` s naming the parameter.

Methods that need a user's file to run at all (weights without shipped ones) must refuse
clearly without it: a ParameterError.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import asirp
from asirp import Frame, ParameterError, synth
from asirp.methods.base import registry

#: Parameters that keep a method's run short in the test (the contract does not depend on them).
QUICK: dict[str, dict[str, Any]] = {
    "noise2self": {"steps": 10, "patch": 32},
    "symmetry": {"fine_tune_steps": 0},
    "zssr": {"max_iterations": 20, "time_budget_s": 5.0},
    "blind_richardson_lucy": {"iterations": 10},
}
#: Methods that cannot run without a file the user gives (no shipped default).
NEEDS_USER_FILE = {"rrdb_sr"}


def _frame(method: type) -> Frame:
    """A small frame of a kind ``method`` declares, with a masked block, counts-like values."""
    pattern_kinds = {"diffraction", "scattering", "pdf"}
    kind = sorted(method.kinds & pattern_kinds)[0] if method.kinds & pattern_kinds else sorted(method.kinds)[0]
    if kind in pattern_kinds:
        noisy = synth.diffraction_frame("powder", shape=(64, 64), dose=5.0, seed=3).noisy
        valid = np.array(noisy.valid)
        valid[5:9, 40:46] = False
        return Frame(np.array(noisy.data), valid, kind=kind, geometry=noisy.geometry)
    rng = np.random.default_rng(3)
    yy, xx = np.indices((48, 48))
    truth = 20.0 + 30.0 * ((yy // 8 + xx // 8) % 2)
    valid = np.ones(truth.shape, bool)
    valid[5:9, 30:36] = False
    return Frame(rng.poisson(truth).astype(np.float32), valid, kind=kind)


def _first_number_field(method: type) -> str | None:
    for name, prop in method.Parameters.model_json_schema().get("properties", {}).items():
        types = {prop.get("type")} | {option.get("type") for option in prop.get("anyOf", [])}
        if types & {"number", "integer"} and "enum" not in prop:
            return name
    return None


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_registered_method_keeps_the_contract(name):
    method = registry()[name]
    frame = _frame(method)
    data, valid, history = np.array(frame.data), np.array(frame.valid), tuple(frame.history)
    if name in NEEDS_USER_FILE:
        with pytest.raises(ParameterError):
            asirp.restore(frame, name)
        return
    out = asirp.restore(frame, name, **QUICK.get(name, {}))

    np.testing.assert_array_equal(frame.data, data)
    np.testing.assert_array_equal(frame.valid, valid)
    assert tuple(frame.history) == history
    assert not frame.data.flags.writeable

    assert out.data.dtype == np.float32
    assert len(out.history) == len(history) + 1
    step = out.history[-1]
    assert step.method == name
    assert json.loads(json.dumps(step.parameters, allow_nan=False)) == step.parameters
    scale = out.data.shape[-1] / data.shape[-1]
    if scale == 1:
        assert out.data.shape == data.shape
        np.testing.assert_array_equal(out.valid, valid)
    else:  # super-resolution: the mask scales with the image, a masked pixel stays masked
        assert out.data.shape == (round(data.shape[0] * scale), round(data.shape[1] * scale))
        y, x = 6, 42 if frame.kind != "image" else 32  # inside the masked block of _frame
        assert not valid[y, x] and not out.valid[int((y + 0.5) * scale), int((x + 0.5) * scale)]
        assert out.valid.mean() == pytest.approx(valid.mean(), abs=0.02)
    assert np.all(np.isfinite(out.data[out.valid]))

    with pytest.raises(ParameterError, match="no_such_parameter"):
        asirp.restore(frame, name, no_such_parameter=1)
    number = _first_number_field(method)
    if number is not None:
        with pytest.raises(ParameterError, match=number):
            asirp.restore(frame, name, **{number: "not a number"})


def test_the_contract_covers_every_family():
    families = {method.family for method in registry().values()}
    assert {"denoising", "deconvolution", "super_resolution"} <= families


def test_shared_parameter_models_are_composed_not_rewritten():
    from asirp.methods.base import DeviceParams
    from asirp.methods.deconv.registered import PSFParams

    for name, method in registry().items():
        fields = method.Parameters.model_fields
        assert ("device" in fields) == issubclass(method.Parameters, DeviceParams), name
        if "psf" in method.needs:
            assert issubclass(method.Parameters, PSFParams), name
