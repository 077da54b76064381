"""The Method contract, registry and the baseline methods."""

import json

import numpy as np
import pytest
from pydantic import Field

import asirp
from asirp import Frame, ParameterError, PixelSize
from asirp.methods.base import Method, Output, Params, get_method, register, registry


def test_registry_lists_baselines_with_declarations():
    described = {m["name"]: m for m in asirp.methods()}
    assert {"identity", "gaussian", "bicubic"} <= set(described)
    gaussian = described["gaussian"]
    assert gaussian["family"] == "denoising"
    assert gaussian["parameters"]["sigma"]["unit"] == "px"
    assert gaussian["parameters"]["sigma"]["default"] == 1.0
    json.dumps(asirp.methods())


def test_unknown_method_and_parameters_are_clear_errors():
    frame = Frame(np.ones((8, 8)))
    with pytest.raises(ParameterError, match="unknown method 'nope'"):
        asirp.restore(frame, "nope")
    with pytest.raises(ParameterError, match="foo: unknown parameter"):
        asirp.restore(frame, "gaussian", foo=1)
    with pytest.raises(ParameterError, match="sigma"):
        asirp.restore(frame, "gaussian", sigma=-1)
    with pytest.raises(ParameterError, match="scale"):
        asirp.restore(frame, "bicubic", scale=100)


def test_run_is_pure_and_records_provenance():
    rng = np.random.default_rng(0)
    data = rng.poisson(20, (32, 32)).astype(np.float32)
    frame = Frame(data.copy(), kind="xrf_map", meta={"source": "/tmp/x.h5", "source_sha256": "abc"})
    out = asirp.restore(frame, "gaussian", sigma=2.0)
    np.testing.assert_array_equal(frame.data, data)
    step = out.history[-1]
    assert step.method == "gaussian" and step.parameters == {"sigma": 2.0}
    assert step.inputs == ({"name": "/tmp/x.h5", "sha256": "abc"},)
    assert step.duration_s >= 0 and step.version == asirp.__version__


def test_gaussian_of_a_masked_stack_is_scipys_normalised_convolution_of_each_image():
    from scipy import ndimage

    rng = np.random.default_rng(4)
    data = rng.poisson(7.0, (3, 40, 56)).astype(np.float32)
    valid = rng.random(data.shape) > 0.2
    out = asirp.restore(Frame(data, valid), "gaussian", sigma=1.7)
    for k in range(3):
        weights = valid[k].astype(np.float64)
        num = ndimage.gaussian_filter(np.where(valid[k], data[k], 0.0), 1.7, mode="reflect")
        den = ndimage.gaussian_filter(weights, 1.7, mode="reflect")
        np.testing.assert_allclose(out.data[k][valid[k]], (num / den)[valid[k]], rtol=2e-5)
        assert np.all(out.data[k][~valid[k]] == 0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_frame_refuses_nan_or_inf_at_measured_pixels_only(bad):
    data = np.ones((8, 8), np.float32)
    data[2, 3] = bad
    with pytest.raises(asirp.InputError, match="NaN or inf at pixels marked valid"):
        Frame(data)
    valid = np.ones((8, 8), bool)
    valid[2, 3] = False
    assert Frame(data, valid).data[2, 3] == 0


def test_identity_returns_the_data():
    frame = Frame(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(asirp.restore(frame, "identity").data, frame.data)


def test_gaussian_is_mask_aware():
    """A flat field with a masked hole stays flat: the hole does not darken its rim."""
    valid = np.ones((32, 32), dtype=bool)
    valid[10:20, 10:20] = False
    frame = Frame(np.full((32, 32), 100.0), valid)
    out = asirp.restore(frame, "gaussian", sigma=3.0)
    np.testing.assert_allclose(out.data[out.valid], 100.0, rtol=1e-5)
    assert not out.valid[15, 15]


def test_gaussian_reduces_noise_by_the_expected_factor():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, (256, 256)).astype(np.float32)
    out = asirp.restore(Frame(noise), "gaussian", sigma=2.0)
    # white noise through a normalised Gaussian of width s: variance / (4 pi s^2)
    assert np.std(out.data[20:-20, 20:-20]) == pytest.approx(1 / np.sqrt(4 * np.pi * 4.0), rel=0.1)


def test_bicubic_upsamples_preserving_counts_pixel_size_and_mask():
    rng = np.random.default_rng(2)
    valid = np.ones((16, 20), dtype=bool)
    valid[3, 4] = False
    frame = Frame(rng.poisson(50, (16, 20)).astype(np.float32), valid, kind="xrf_map", pixel_size=PixelSize.square(25))
    out = asirp.restore(frame, "bicubic", scale=2)
    assert out.shape == (32, 40)
    assert out.pixel_size == PixelSize.square(12.5)
    assert not out.valid[6:8, 8:10].any() and out.valid.sum() == valid.sum() * 4
    assert out.data[out.valid].sum() == pytest.approx(frame.data[frame.valid].sum(), rel=0.01)
    # a smooth image is interpolated accurately
    y, x = np.mgrid[0:32, 0:32]
    smooth = Frame(np.sin(x / 5.0) + np.cos(y / 7.0), kind="image")
    up = asirp.restore(smooth, "bicubic", scale=2)
    yy, xx = (np.mgrid[0:64, 0:64] + 0.5) / 2 - 0.5
    truth = np.sin(xx / 5.0) + np.cos(yy / 7.0)
    assert np.abs(up.data - truth)[8:-8, 8:-8].max() < 2e-3


def test_stacks_are_processed_image_by_image():
    data = np.stack([np.full((8, 8), i + 1.0) for i in range(3)])
    out = asirp.restore(Frame(data), "gaussian", sigma=1.0)
    assert out.shape == (3, 8, 8)
    np.testing.assert_allclose(out.data.mean(axis=(1, 2)), [1, 2, 3], rtol=1e-5)


def test_third_party_registration_and_validation():
    class DoubleParams(Params):
        factor: float = Field(2.0, gt=0, le=10)

    @register
    class Doubler(Method):
        name = "test_doubler"
        family = "reference"
        task = "multiply"
        Parameters = DoubleParams

        def process(self, frame, params):
            return Output(frame.data * params.factor, notes={"did": "double"})

    try:
        out = get_method("test_doubler").run(Frame(np.ones((4, 4))), factor=3)
        assert float(out.data.mean()) == 3.0 and out.history[-1].notes == {"did": "double"}
        with pytest.raises(TypeError):

            @register
            class Broken(Method):  # unknown kind
                name = "test_broken"
                family = "reference"
                task = "x"
                kinds = frozenset({"photo"})

                def process(self, frame, params):  # pragma: no cover
                    return Output(frame.data)
    finally:
        from asirp.methods import base

        base._REGISTRY.pop("test_doubler", None)
    assert "test_doubler" not in registry()


def test_entry_point_plugins_are_loaded_and_broken_ones_warn(monkeypatch):
    """Third-party methods arrive through the ``asirp.methods`` entry-point group."""
    from asirp.methods import base

    class Halver(Method):
        name = "test_plugin_halver"
        family = "reference"
        task = "halve"

        def process(self, frame, params):
            return Output(frame.data / 2)

    class FakeEntryPoint:
        def __init__(self, name, target):
            self.name, self._target = name, target

        def load(self):
            if isinstance(self._target, Exception):
                raise self._target
            return self._target

    plugins = [FakeEntryPoint("halver", Halver), FakeEntryPoint("broken", ImportError("missing dependency"))]
    monkeypatch.setattr(base, "entry_points", lambda group: plugins if group == "asirp.methods" else [])
    monkeypatch.setattr(base, "_ENTRY_POINTS_LOADED", False)
    try:
        with pytest.warns(UserWarning, match="broken"):
            methods = registry()
        assert methods["test_plugin_halver"] is Halver
        assert float(get_method("test_plugin_halver").run(Frame(np.full((4, 4), 8.0))).data.mean()) == 4.0
    finally:
        base._REGISTRY.pop("test_plugin_halver", None)
