"""Property-based tests (hypothesis): every method of the repertoire, and ``auto``, on any small image.

Whatever the image (2..64 x 2..64 px; uint8, uint16, int32, float32 or float64;
photon counts, rings, blurred spots, zeros, a constant, one hot pixel, negative
values or arbitrary bit patterns; NaN and ±inf holes) and whatever its kind, the
outcome of building a frame and restoring it is either a frame (finite at its valid
pixels, of the input's shape unless the method super-resolves, and not wildly outside
the input's range) or an asirp error: one line naming the source. Never another
exception, never a RuntimeWarning, never a warning from a library underneath.

The methods come from the registry, so a new method is tested without edits here;
expensive ones get their fast parameters (:data:`FAST_PARAMETERS`, by parameter name).
The default run is small (a few examples per method, a few CLI calls); the ``slow``
variants explore many more: ``python -m pytest -m slow tests/test_properties.py``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from _warning_checks import unexpected
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from asirp import api
from asirp.errors import AsirpError
from asirp.frame import Frame
from asirp.kinds import KINDS
from asirp.methods.base import registry

#: The file name every error must name (frames carry it as ``meta["source"]``).
SOURCE = "/beamline/sample_0001.tif"
#: Every registered method, and the selector.
METHODS = (*registry(), "auto")
#: Parameters that keep expensive methods quick (fine-tuning, training, iterations),
#: given to every method whose parameter model has them.
FAST_PARAMETERS: dict[str, Any] = {
    "fine_tune_s": 0.0,  # symmetry: pre-trained weights as they are
    "steps": 10,  # noise2self: the fewest optimiser steps allowed
    "time_budget_s": 1.0,  # zssr: training plus inference
    "max_iterations": 5,  # zssr
    "patience": 1,  # zssr
    "ensemble": False,  # zssr: one prediction, not eight
}
#: The selector's time budget in seconds (deciding and running).
AUTO_BUDGET_S = 2.0
DTYPES = (np.uint8, np.uint16, np.int32, np.float32, np.float64)
PATTERNS = ("counts", "rings", "spots", "zeros", "constant", "hot_pixel", "negative", "arbitrary")
#: Non-finite holes put into floating-point images.
DEFECTS = ("none", "nan", "inf", "-inf", "nan_row", "mostly_nan")
#: Factors applied to floating-point patterns (counts, normalised data, physical units).
SCALES = (1.0, 1e-12, 1e-3, 1e3, 1e9, 1e14, 1e20)
#: Output values beyond the input's range by more than this many times its span are wrong.
RANGE_FACTOR = 100.0
#: Where a warning may legitimately come from: asirp itself (its UserWarnings say
#: something to the user) or, through ``stacklevel``, the caller.


def fast_parameters(method: str) -> dict[str, Any]:
    """The entries of :data:`FAST_PARAMETERS` that ``method``'s parameter model declares."""
    fields = registry()[method].Parameters.model_fields
    return {name: value for name, value in FAST_PARAMETERS.items() if name in fields}


def _pattern(pattern: str, shape: tuple[int, int], rng: np.random.Generator, level: float) -> np.ndarray:
    """A float64 image of one of :data:`PATTERNS` (all but ``"arbitrary"``) at ``level`` counts."""
    ny, nx = shape
    yy, xx = np.indices(shape, dtype=np.float64)
    if pattern == "counts":
        return rng.poisson(level, shape).astype(np.float64)
    if pattern == "rings":
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        radius = np.hypot(yy - cy, xx - cx)
        period = rng.uniform(3, 12)
        rate = level * (0.2 + np.exp(-(((radius % period) - period / 2) ** 2)))
        return rng.poisson(rate).astype(np.float64)
    if pattern == "spots":
        image = np.zeros(shape)
        for _ in range(int(rng.integers(1, 6))):
            cy, cx, width = rng.uniform(0, ny), rng.uniform(0, nx), rng.uniform(0.5, 4)
            image += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
        return rng.poisson(level * (0.05 + image)).astype(np.float64)
    if pattern == "zeros":
        return np.zeros(shape)
    if pattern == "constant":
        return np.full(shape, level)
    if pattern == "hot_pixel":
        image = np.zeros(shape)
        image[rng.integers(ny), rng.integers(nx)] = level * 1000
        return image
    if pattern == "negative":
        return rng.normal(-level, max(level, 1.0) ** 0.5, shape)
    raise ValueError(pattern)


def _with_defect(image: np.ndarray, defect: str, rng: np.random.Generator) -> np.ndarray:
    """``image`` with non-finite holes of kind ``defect`` (see :data:`DEFECTS`)."""
    image = image.copy()
    if defect in ("nan", "inf", "-inf"):
        holes = rng.random(image.shape) < rng.uniform(0.001, 0.3)
        image[holes] = float(defect)
    elif defect == "nan_row":
        image[rng.integers(image.shape[0])] = np.nan
    elif defect == "mostly_nan":
        image[rng.random(image.shape) < 0.97] = np.nan
    return image


def _as_dtype(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``image`` in ``dtype``; integers rounded and clipped to the dtype's range, as a detector stores them."""
    if dtype.kind == "f":
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, as in a file
            return image.astype(dtype)
    limits = np.iinfo(dtype)
    return np.clip(np.rint(image), limits.min, limits.max).astype(dtype)


@st.composite
def images(draw: st.DrawFn, max_side: int = 64) -> np.ndarray:
    """An image as a detector, a scan or a program may deliver it (see the module docstring)."""
    shape = (draw(st.integers(2, max_side)), draw(st.integers(2, max_side)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    pattern = draw(st.sampled_from(PATTERNS))
    if pattern == "arbitrary":
        return draw(hnp.arrays(dtype, shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    image = _pattern(pattern, shape, rng, draw(st.sampled_from((0.5, 5.0, 100.0, 3e4))))
    if dtype.kind == "f":
        image = _with_defect(image * draw(st.sampled_from(SCALES)), draw(st.sampled_from(DEFECTS)), rng)
    return _as_dtype(image, dtype)



def outcome(work: Callable[[], Frame]) -> Frame | AsirpError:
    """Run ``work`` and return its frame or its asirp error, asserting the error and warning properties."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Frame | AsirpError = work()
        except AsirpError as exc:
            result = exc
    assert not unexpected(caught), unexpected(caught)
    if isinstance(result, AsirpError):
        message = str(result)
        assert "\n" not in message, f"error of several lines: {message!r}"
        assert SOURCE in message, f"error not naming the source: {message!r}"
    return result


def check_restore(method: str, image: np.ndarray, kind: str) -> None:
    """The property: build a frame of ``image`` and restore it with ``method`` (see the module docstring)."""
    frame = outcome(lambda: Frame.from_array(image, kind=kind, meta={"source": SOURCE}))
    if isinstance(frame, AsirpError):
        event("no frame (refused by Frame)")
        return
    if method == "auto":
        restored = outcome(lambda: api.restore(frame, "auto", budget_s=AUTO_BUDGET_S))
    else:
        restored = outcome(lambda: api.restore(frame, method, **fast_parameters(method)))
    if isinstance(restored, AsirpError):
        event(f"refused by the method ({type(restored).__name__})")
        return
    event("restored")
    used = restored.history[-1].method
    if registry()[used].family != "super_resolution":
        assert restored.shape == frame.shape
    assert np.isfinite(restored.data[restored.valid]).all()
    values = frame.data[frame.valid].astype(np.float64)
    low, high = float(values.min()), float(values.max())
    span = max(high - low, abs(low), abs(high))
    out = restored.data[restored.valid].astype(np.float64)
    assert out.min() >= low - RANGE_FACTOR * span and out.max() <= high + RANGE_FACTOR * span, (
        f"{used} returned values in [{out.min():.3g}, {out.max():.3g}] for data in [{low:.3g}, {high:.3g}]"
    )


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=20)
@given(image=images(), kind=st.sampled_from(KINDS))
def test_any_image_gives_a_frame_or_one_line_error(method: str, image: np.ndarray, kind: str) -> None:
    check_restore(method, image, kind)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=300, derandomize=False)
@given(image=images(), kind=st.sampled_from(KINDS))
def test_any_image_gives_a_frame_or_one_line_error_thoroughly(method: str, image: np.ndarray, kind: str) -> None:
    check_restore(method, image, kind)


@settings(max_examples=10)
@given(dtype=st.sampled_from((np.bool_, np.complex64, np.complex128)), shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=64))
def test_boolean_and_complex_arrays_are_refused_clearly(dtype: type, shape: tuple[int, int]) -> None:
    refused = outcome(lambda: Frame.from_array(np.ones(shape, dtype), meta={"source": SOURCE}))
    assert isinstance(refused, AsirpError)
    assert str(np.dtype(dtype)) in str(refused)


# -- through the command line ------------------------------------------------------------


def check_cli(folder: Path, method: str, image: np.ndarray) -> None:
    """``asirp restore`` on ``image`` written as TIFF in ``folder``: exit 0, or 2 with one error line naming the file.

    Every line on stderr is one message (``asirp: warning: ...``, ``asirp: error: ...``).
    """
    source = folder / "input.tif"
    tifffile.imwrite(source, image)
    parameters = [f"-p{name}={str(value).lower()}" for name, value in fast_parameters(method).items()] if method != "auto" else []
    budget = ["--budget", str(AUTO_BUDGET_S)] if method == "auto" else []
    command = [sys.executable, "-m", "asirp.cli", "-q", "restore", str(source), "-m", method, *parameters, *budget,
               "-o", str(folder / "out.nxs")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "RuntimeWarning" not in result.stderr, result.stderr
    assert all(line.startswith(("asirp: warning: ", "asirp: error: ")) for line in lines), result.stderr
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 2:
        errors = [line for line in lines if line.startswith("asirp: error: ")]
        assert errors == lines[-1:] and "input.tif" in errors[0], result.stderr
        assert not (folder / "out.nxs").exists()
    else:
        assert (folder / "out.nxs").is_file()


@settings(max_examples=6)
@given(method=st.sampled_from(METHODS), image=images(max_side=32))
def test_cli_restore_exits_0_or_2_with_one_line(tmp_path_factory: pytest.TempPathFactory, method: str, image: np.ndarray) -> None:
    check_cli(tmp_path_factory.mktemp("cli"), method, image)


@pytest.mark.slow
@settings(max_examples=60, derandomize=False)
@given(method=st.sampled_from(METHODS), image=images(max_side=32))
def test_cli_restore_exits_0_or_2_with_one_line_thoroughly(
    tmp_path_factory: pytest.TempPathFactory, method: str, image: np.ndarray
) -> None:
    check_cli(tmp_path_factory.mktemp("cli"), method, image)


# -- regressions: what these properties found, one test each ---------------------------------


def _counts_frame(shape: tuple[int, int], kind: str = "diffraction", factor: float = 1.0, seed: int = 0) -> Frame:
    data = np.random.default_rng(seed).poisson(5.0, shape).astype(np.float32) * np.float32(factor)
    return Frame.from_array(data, kind=kind, meta={"source": SOURCE})


def test_errors_raised_inside_a_method_name_the_source() -> None:
    """The blur estimate of a 3 x 17 image refused it without naming the file (Method.run adds it)."""
    with pytest.raises(AsirpError, match=f"^{SOURCE}: .*too small") as raised:
        api.restore(_counts_frame((3, 17), "image"), "wiener")
    assert type(raised.value).__name__ == "ParameterError"


def test_beam_centre_of_a_small_frame_warns_nothing() -> None:
    """Nelder-Mead polished a centre on a cost that was inf everywhere (RuntimeWarning: inf - inf)."""
    from asirp.symmetry.centre import find_centre

    frame = _counts_frame((9, 9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = find_centre(np.asarray(frame.data), np.asarray(frame.valid))
    assert 0 <= found.center[0] <= 9 and 0 <= found.center[1] <= 9


@pytest.mark.parametrize("method", ["symmetric_average", "azimuthal_median", "symmetry"])
def test_symmetry_analysis_refuses_too_few_pixels(method: str) -> None:
    """A 2 x 2 frame put all pixels at one radius: 8e15 radial bins (OverflowError, a 59 PiB allocation)."""
    frame = Frame.from_array(np.array([[1, 0], [0, 2]], np.uint8), kind="diffraction", meta={"source": SOURCE})
    with pytest.raises(AsirpError, match=f"^{SOURCE}: only 4 measured pixels; symmetry statistics need at least 50"):
        api.restore(frame, method, **fast_parameters(method))


def test_noise2self_refuses_images_narrower_than_its_patches() -> None:
    """Images under 8 px a side gave training patches of 0 px (torch RuntimeError)."""
    with pytest.raises(AsirpError, match=f"^{SOURCE}: image of 3x17 px is too small for noise2self"):
        api.restore(_counts_frame((3, 17)), "noise2self", steps=10)


@pytest.mark.parametrize("value", [1e20, 1e300])
def test_values_beyond_the_float32_safe_range_are_refused_at_the_frame(value: float) -> None:
    """1e300 overflowed in the float32 cast (RuntimeWarning), 1e20 in the deconvolutions' count split."""
    data = np.full((8, 8), value)
    data[0, 0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AsirpError, match=f"^{SOURCE}: values up to .* exceed 1e\\+15"):
            Frame.from_array(data, meta={"source": SOURCE})


def test_noise_estimate_of_flat_and_narrow_images_warns_nothing() -> None:
    """skimage's estimate_sigma warned 'Mean of empty slice' (flat) and took a 2-px image for colour."""
    from asirp.noise import wavelet_sigma

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert wavelet_sigma(np.zeros((8, 16))) == 0.0
        assert wavelet_sigma(np.array([[1.0, 2.0], [3.0, 5.0]])) >= 0.0


@pytest.mark.parametrize("method", ["fca_sr", "zssr"])
@pytest.mark.parametrize("value", [0.0, 7.0])
def test_super_resolution_networks_keep_a_flat_image_flat(method: str, value: float) -> None:
    """fca_sr added its network's bias to a flat image (1.6 % of the value; 0.016 for zeros); zssr's noise
    estimate of an all-zero image warned 'Mean of empty slice'."""
    frame = Frame.from_array(np.full((16, 16), value), meta={"source": SOURCE})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored = api.restore(frame, method, **fast_parameters(method))
    assert restored.shape == (32, 32) and np.all(restored.data == value)


def test_super_resolution_keeps_the_scale_of_tiny_values() -> None:
    """A span below 1e-12 in absolute units was taken as flat and replaced by 1: outputs ~1e-3 for data ~1e-13."""
    frame = _counts_frame((24, 24), "image", factor=1e-14, seed=3)
    restored = api.restore(frame, "fca_sr")
    assert 0 < restored.data.max() <= 10 * frame.data.max()


@pytest.mark.parametrize("method", ["supervised", "smae_halves", "noise2self"])
def test_count_networks_keep_the_scale_of_small_values(method: str) -> None:
    """A floor of 1e-3 on the mean counts biased data of 5e-6 per pixel: mean out/in 86 (supervised), 3.9, 3.5."""
    frame = _counts_frame((24, 24), factor=1e-6, seed=1)
    restored = api.restore(frame, method, **fast_parameters(method))
    assert 0.5 < restored.data.mean() / frame.data.mean() < 2.5


@pytest.mark.parametrize("method", ["supervised", "smae_halves", "noise2self", "symmetry"])
def test_count_networks_refuse_data_far_below_one_count(method: str) -> None:
    """Below the dose channel's floor (1e-6 per pixel) the networks returned up to 127 times the data."""
    frame = _counts_frame((24, 24), factor=1e-12, seed=1)
    with pytest.raises(AsirpError, match=f"^{SOURCE}: a mean of 5e-12 per pixel is below 1e-06"):
        api.restore(frame, method, **fast_parameters(method))


def test_cli_shows_a_warning_as_one_line(tmp_path: Path) -> None:
    """A UserWarning came out as Python shows it: the warning's file and line, then its source line."""
    image = np.array([[1, 0, 0, 2, 1], [2, 1, 1, 1, 0], [0, 0, 0, 1, 1], [3, 1, 0, 1, 0], [0, 2, 0, 0, 0], [0, 0, 1, 1, 2]],
                     np.uint8)
    tifffile.imwrite(tmp_path / "input.tif", image)
    result = subprocess.run([sys.executable, "-m", "asirp.cli", "-q", "restore", str(tmp_path / "input.tif"), "-m",
                             "blind_richardson_lucy", "-o", str(tmp_path / "out.nxs")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("asirp: warning: blind_richardson_lucy: the blur is poorly determined")
