"""Dead detector areas found from the data, and user mask files (``mask=``, ``--mask``)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from fabio.edfimage import EdfImage

import asirp.io
from asirp.cli import main
from asirp.errors import InputError
from asirp.io.masks import dead_areas
from asirp.symmetry.centre import find_centre

REAL_SAXS = Path(__file__).resolve().parents[2] / "shared" / "data" / "diffraction" / "AgBehenate_003_saxs.tif"


def _round_detector(shape=(240, 240), rings_at=(131.5, 104.5), seed=0) -> np.ndarray:
    """A MarCCD-like frame: rings about ``rings_at`` (off the detector centre) inside a round active
    area about the detector centre with a dark offset; exact zeros outside it."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape)
    r = np.hypot(y - rings_at[0], x - rings_at[1])
    signal = 20.0 + 300.0 * np.exp(-0.5 * ((r - 40) / 2.0) ** 2) + 200.0 * np.exp(-0.5 * ((r - 75) / 2.0) ** 2)
    counts = rng.poisson(signal) + 10  # a dark offset: an integrating detector never reads 0 where it measures
    active = np.hypot(y - (shape[0] - 1) / 2, x - (shape[1] - 1) / 2) < shape[0] / 2 - 2
    return np.where(active, counts, 0).astype(np.uint16)


def test_dead_corners_of_a_round_detector_are_masked_and_the_ring_centre_is_found(tmp_path):
    data = _round_detector()
    tifffile.imwrite(tmp_path / "saxs.tif", data)
    frame = asirp.io.open(tmp_path / "saxs.tif")
    outside = data == 0
    assert frame.meta["mask_sources"]["dead_area"] > 0.85 * outside.sum()  # all but thin slivers along the edges
    assert frame.valid[~outside].all()  # nothing inside the active area is lost
    assert frame.history[-1].parameters["mask_sources"]["dead_area"] == frame.meta["mask_sources"]["dead_area"]
    center = find_centre(frame.data, frame.valid).center
    assert np.hypot(center[0] - 131.5, center[1] - 104.5) < 1.0


@pytest.mark.parametrize("rate", [0.002, 0.01, 0.05])
def test_zeros_of_a_sparse_photon_counting_frame_stay_measurements(rate):
    counts = np.random.default_rng(1).poisson(rate, (300, 300))
    assert not dead_areas(counts, np.ones(counts.shape, bool)).any()


def test_a_beamstop_shadow_without_counts_is_masked_and_a_bright_spot_beside_zeros_is_not():
    rng = np.random.default_rng(2)
    y, x = np.indices((256, 256))
    counts = rng.poisson(3.0, (256, 256))
    shadow = np.hypot(y - 128, x - 128) < 20
    counts[shadow] = 0
    found = dead_areas(counts, np.ones(counts.shape, bool))
    near = np.hypot(y - 128, x - 128) < 21 + 6 * np.sqrt(2)  # the rim: zeros within R = 6 px (Chebyshev) of the area
    assert found[shadow].all() and not found[~near].any() and (counts[found & ~shadow] == 0).all()
    sparse = rng.poisson(0.003, (256, 256))
    sparse[100:103, 100:103] = 5000  # a Bragg spot: one bright patch does not make its zeros 'dead'
    assert not dead_areas(sparse, np.ones(sparse.shape, bool)).any()


@pytest.mark.skipif(not REAL_SAXS.is_file(), reason="the shared real data folder is not on this machine")
def test_real_agbehenate_marccd_frame_centre_within_a_pixel_of_its_rings():
    frame = asirp.io.open(REAL_SAXS)
    assert frame.meta["mask_sources"]["dead_area"] > 200_000  # the corners outside the 1024-px circle
    center = find_centre(frame.data, frame.valid).center
    assert np.hypot(center[0] - 569.5, center[1] - 483.5) < 1.0


def _write_mask(path: Path, mask: np.ndarray) -> str:
    if path.suffix == ".npy":
        np.save(path, mask)
    elif path.suffix == ".edf":
        EdfImage(data=mask.astype(np.int8)).write(str(path))
    elif path.suffix == ".h5":
        with h5py.File(path, "w") as handle:
            handle["entry/mask"] = mask.astype(np.uint8)
        return f"{path}::/entry/mask"
    else:  # Dioptas: a TIFF with the .mask suffix
        tifffile.imwrite(path, mask.astype(np.uint8))
    return str(path)


@pytest.mark.parametrize("name", ["dioptas.mask", "pyfai.edf", "mask.npy", "mask.h5"])
def test_user_mask_files_in_every_convention_mask_pixels_and_are_recorded(tmp_path, name):
    data = np.random.default_rng(3).poisson(5.0, (40, 50)).astype(np.int32)
    tifffile.imwrite(tmp_path / "frame.tif", data)
    mask = np.zeros(data.shape, bool)
    mask[5:15, 20:30] = True
    spec = _write_mask(tmp_path / name, mask)
    before = (tmp_path / name).read_bytes()
    frame = asirp.io.open(tmp_path / "frame.tif", mask=spec)
    np.testing.assert_array_equal(frame.valid, ~mask)
    assert frame.meta["mask_sources"]["user_mask"] == 100
    read = frame.history[-1]
    assert read.parameters["mask"].endswith(spec.split("/")[-1]) and len(read.inputs) == 2
    assert (tmp_path / name).read_bytes() == before  # inputs are never modified


def test_bad_mask_files_are_refused_in_one_line_naming_the_mask(tmp_path, capsys):
    data = np.random.default_rng(4).poisson(5.0, (40, 50)).astype(np.int32)
    tifffile.imwrite(tmp_path / "frame.tif", data)
    np.save(tmp_path / "small.npy", np.zeros((10, 10), bool))
    with pytest.raises(InputError, match=r"the mask .*small.npy has shape \(10, 10\), the images \(40, 50\)"):
        asirp.io.open(tmp_path / "frame.tif", mask=tmp_path / "small.npy")
    np.save(tmp_path / "inverted.npy", np.ones((40, 50), np.uint8))
    with pytest.raises(InputError, match="masks every pixel: is it inverted"):
        asirp.io.open(tmp_path / "frame.tif", mask=tmp_path / "inverted.npy")
    assert main(["restore", str(tmp_path / "frame.tif"), "-m", "gaussian", "--mask", str(tmp_path / "nothing.tif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing.tif" in err[0] and "no such file" in err[0]
    assert not (tmp_path / "frame_restored.nxs").exists()


def test_mask_option_on_info_restore_and_run(tmp_path, capsys):
    data = np.random.default_rng(5).poisson(5.0, (40, 50)).astype(np.int32)
    tifffile.imwrite(tmp_path / "frame.tif", data)
    mask = np.zeros(data.shape, np.uint8)
    mask[:, :10] = 1
    tifffile.imwrite(tmp_path / "beamstop.mask", mask)
    assert main(["info", str(tmp_path / "frame.tif"), "--mask", str(tmp_path / "beamstop.mask"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mask_sources"]["user_mask"] == 400
    out = tmp_path / "out.nxs"
    assert main(["restore", str(tmp_path / "frame.tif"), "-m", "gaussian", "--mask", str(tmp_path / "beamstop.mask"),
                 "-o", str(out), "-q"]) == 0
    restored = asirp.io.open(out)
    assert not restored.valid[:, :10].any() and restored.valid[:, 10:].all()
    (tmp_path / "pipe.toml").write_text('[restore]\nmethod = "gaussian"\n[write]\noutput = "' + str(tmp_path / "runs") + '"\n')
    assert main(["run", str(tmp_path / "pipe.toml"), str(tmp_path / "frame.tif"), "--mask", str(tmp_path / "beamstop.mask"),
                 "-q"]) == 0
    written = sorted((tmp_path / "runs").glob("*.nxs"))
    assert written and not asirp.io.open(written[0]).valid[..., :10].any()
