"""Readers and writers (asirp.io): real files in tmp_path, written by the field's own libraries."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import fabio
import h5py
import hdf5plugin
import numpy as np
import pytest
import tifffile
from fabio.cbfimage import CbfImage
from fabio.edfimage import EdfImage

import asirp.io
from asirp.errors import InputError, OutputError, ParameterError
from asirp.frame import Frame
from asirp.geometry import Geometry
from asirp.history import HistoryStep
from asirp.io import export, nexus
from asirp.units import PixelSize

NY, NX = 12, 16


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def counts(seed: int = 0, shape: tuple[int, ...] = (NY, NX), dtype=np.int32) -> np.ndarray:
    return np.random.default_rng(seed).poisson(50, size=shape).astype(dtype)


def pilatus_like(seed: int = 0) -> np.ndarray:
    """int32 counts with a -1 module gap (row 4) and a -2 bad pixel, like a PILATUS frame."""
    data = counts(seed)
    data[4, :] = -1
    data[9, 3] = -2
    return data


def geometry(shape: tuple[int, int] = (NY, NX)) -> Geometry:
    return Geometry.from_params(
        dist=0.2, poni1=0.001, poni2=0.0015, wavelength=1e-10, pixel1=1e-4, pixel2=1e-4, max_shape=shape
    )


def rich_frame(tmp_path: Path, *, stack: bool = False) -> Frame:
    """A frame with everything the NeXus writer stores: mask, pixel size, geometry, meta, history."""
    shape = (3, NY, NX) if stack else (NY, NX)
    data = np.random.default_rng(1).normal(10, 2, size=shape).astype(np.float32)
    valid = np.ones(shape, dtype=bool)
    valid[..., 2, 3] = False
    valid[..., 5, :] = False
    source = tmp_path / "raw_input.tif"
    source.write_bytes(b"pretend input")
    history = (
        HistoryStep("read", {"dataset": None, "kind": "scattering"}, duration_s=0.01,
                    inputs=({"name": str(source), "sha256": sha256(source)},)),
        HistoryStep("gaussian", {"sigma": 1.5, "truncate": 4.0, "mode": "reflect"}, duration_s=0.25,
                    notes={"iterations": 3, "stopped": "converged"}),
        HistoryStep("fca", {"scale": 2, "tile": [64, 64]}, duration_s=1.5, weights_sha256="ab" * 32,
                    notes={"device": "cpu"}),
    )  # fmt: skip
    meta = {"source": str(source), "operator": "beamline", "energy_keV": 12.4,
            "numbers": np.arange(3), "opaque": object()}  # fmt: skip
    return Frame(data, valid, "scattering", PixelSize(75.0, 50.0, "um"), geometry(), meta, history)


# -- formats written by other programs --------------------------------------------------------


def test_tiff_single_page_reads_counts_masks_sentinels_and_records_provenance(tmp_path):
    path = tmp_path / "pilatus.tif"
    raw = pilatus_like()
    tifffile.imwrite(path, raw)
    before = sha256(path)
    frame = asirp.io.open(path)
    assert sha256(path) == before  # the input is never modified
    assert frame.shape == (NY, NX) and frame.data.dtype == np.float32
    expected_valid = raw >= 0
    np.testing.assert_array_equal(frame.valid, expected_valid)
    np.testing.assert_array_equal(frame.data[expected_valid], raw[expected_valid].astype(np.float32))
    assert frame.meta["mask_sources"] == {"negative_sentinel": NX + 1}
    assert frame.meta["format"] == "tiff" and frame.meta["dtype"] == "int32"
    assert frame.meta["source"] == str(path.absolute())
    assert frame.meta["source_sha256"] == before
    assert frame.kind == "image"
    (step,) = frame.history
    assert step.method == "read"
    assert step.inputs == ({"name": str(path.absolute()), "sha256": before},)
    assert step.parameters["mask_sources"] == {"negative_sentinel": NX + 1}


def test_tiff_multi_page_is_a_stack(tmp_path):
    path = tmp_path / "series.tif"
    pages = counts(shape=(4, NY, NX), dtype=np.uint16)
    with tifffile.TiffWriter(path) as writer:
        for page in pages:
            writer.write(page, photometric="minisblack")
    frame = asirp.io.open(path)
    assert frame.shape == (4, NY, NX) and frame.is_stack
    np.testing.assert_array_equal(frame.data, pages.astype(np.float32))
    assert frame.valid.all()


def test_pilatus_tiff_header_gives_pixel_size_exposure_and_count_cutoff(tmp_path):
    path = tmp_path / "p.tif"
    data = counts()
    data[0, 0], data[1, 1] = 120, 119  # cutoff 120: the first is masked, the second kept
    header = "# Pixel_size 172e-6 m x 172e-6 m\r\n# Exposure_time 0.5000000 s\r\n# Count_cutoff 120 counts\r\n"
    tifffile.imwrite(path, data, description=header, metadata=None)
    frame = asirp.io.open(path)
    assert frame.pixel_size == PixelSize(172.0, 172.0, "um")
    assert frame.meta["exposure_time_s"] == 0.5
    assert frame.meta["saturation"] == 120.0
    assert not frame.valid[0, 0] and frame.valid[1, 1]
    assert frame.meta["mask_sources"] == {"saturation": int((data >= 120).sum())}


def test_edf_multi_frame_with_gaps_is_a_masked_stack(tmp_path):
    path = tmp_path / "scan.edf"
    frames = [pilatus_like(0), pilatus_like(1)]
    image = EdfImage(data=frames[0], header={"ExposureTime": "2.5", "PSize_1": "75e-6", "PSize_2": "50e-6"})
    image.append_frame(data=frames[1])
    image.write(str(path))
    frame = asirp.io.open(path)
    stacked = np.stack(frames)
    assert frame.shape == (2, NY, NX)
    np.testing.assert_array_equal(frame.valid, stacked >= 0)
    np.testing.assert_array_equal(frame.data[stacked >= 0], stacked[stacked >= 0])
    assert frame.meta["format"] == "edf"
    assert frame.meta["exposure_time_s"] == 2.5
    assert frame.pixel_size == PixelSize(50.0, 75.0, "um")  # PSize_1 is along x (Dim_1)


def test_cbf_pilatus_gap_rows_and_count_cutoff(tmp_path):
    path = tmp_path / "frame.cbf"
    data = pilatus_like()
    data[7, 7] = 1_000_000
    header = {
        "_array_data.header_convention": "PILATUS_1.2",
        "_array_data.header_contents": "# Pixel_size 172e-6 m x 172e-6 m\r\n# Exposure_time 1.0 s\r\n"
        "# Count_cutoff 1048500 counts",
    }
    CbfImage(data=data, header=header).write(str(path))
    frame = asirp.io.open(path)
    assert frame.meta["format"] == "cbf"
    expected = (data >= 0) & (data < 1_048_500)
    expected[7, 7] = True  # 1e6 is below the cutoff
    np.testing.assert_array_equal(frame.valid, expected)
    assert frame.meta["mask_sources"] == {"negative_sentinel": NX + 1, "saturation": 0}
    assert frame.pixel_size == PixelSize(172.0, 172.0, "um")


def test_npy_nan_masked_negative_floats_and_zeros_kept(tmp_path):
    path = tmp_path / "a.npy"
    data = np.linspace(-1.0, 1.0, NY * NX).reshape(NY, NX)
    data[0, :3] = [np.nan, np.inf, -np.inf]
    data[2, 2] = 0.0
    np.save(path, data)
    frame = asirp.io.open(path)
    expected = np.isfinite(data)
    np.testing.assert_array_equal(frame.valid, expected)
    assert frame.meta["mask_sources"] == {"non_finite": 3}
    assert (frame.data[frame.valid] < 0).sum() == (data[expected] < 0).sum()  # processed data may be negative
    assert frame.valid[2, 2] and frame.data[2, 2] == 0.0  # zeros are measurements


@pytest.mark.parametrize(
    ("dtype", "masked"), [(np.uint32, True), (np.uint16, True), (np.uint8, False)]
)
def test_integer_dtype_maximum_is_a_sentinel_from_16_bits(tmp_path, dtype, masked):
    path = tmp_path / "overflow.npy"
    data = counts(dtype=dtype)
    data[3, 4] = np.iinfo(dtype).max
    data[5, 5] = 0
    np.save(path, data)
    frame = asirp.io.open(path)
    assert frame.valid[3, 4] == (not masked)
    assert frame.valid[5, 5]
    assert frame.meta["mask_sources"] == ({"dtype_max_sentinel": 1} if masked else {})


def test_saturation_argument_masks_at_and_above(tmp_path):
    path = tmp_path / "sat.npy"
    data = np.arange(NY * NX, dtype=np.int32).reshape(NY, NX)
    np.save(path, data)
    frame = asirp.io.open(path, saturation=100)
    np.testing.assert_array_equal(frame.valid, data < 100)
    assert frame.meta["saturation"] == 100
    assert frame.meta["mask_sources"] == {"saturation": NY * NX - 100}
    assert frame.history[-1].parameters["saturation"] == 100


def test_large_counts_convert_to_float32_within_relative_rounding(tmp_path):
    path = tmp_path / "big.npy"
    data = (np.arange(NY * NX, dtype=np.int64).reshape(NY, NX) + 2**24 + 1) * 3
    np.save(path, data)
    frame = asirp.io.open(path)
    relative = np.abs(frame.data.astype(np.float64) - data) / data
    assert relative.max() <= 2.0**-24


# -- HDF5 / NeXus from other programs ----------------------------------------------------------


def _nexus_file(path: Path, *, default: bool) -> np.ndarray:
    data = counts(seed=3).astype(np.float64)
    with h5py.File(path, "w") as f:
        entry = f.create_group("scan")
        entry.attrs["NX_class"] = "NXentry"
        nxdata = entry.create_group("plot")
        nxdata.attrs["NX_class"] = "NXdata"
        nxdata.attrs["signal"] = "counts"
        nxdata["counts"] = data
        nxdata["monitor"] = np.ones((NY, NX))  # a 2-D distractor
        entry["other"] = np.zeros((4, NY, NX))
        if default:
            f.attrs["default"] = "scan"
            entry.attrs["default"] = "plot"
    return data


@pytest.mark.parametrize("default", [True, False])
def test_nexus_signal_found_by_default_chain_or_single_nxdata(tmp_path, default):
    path = tmp_path / "nx.nxs"
    data = _nexus_file(path, default=default)
    frame = asirp.io.open(path)
    assert frame.meta["dataset"] == "/scan/plot/counts"
    assert frame.meta["source"] == f"{path.absolute()}::/scan/plot/counts"
    assert frame.meta["format"] == "nexus"
    np.testing.assert_array_equal(frame.data, data.astype(np.float32))


def test_explicit_dataset_path_and_group_path(tmp_path):
    path = tmp_path / "nx.h5"
    _nexus_file(path, default=False)
    assert asirp.io.open(f"{path}::/scan/other").shape == (4, NY, NX)
    assert asirp.io.open(path, dataset="scan/plot/monitor").meta["dataset"] == "/scan/plot/monitor"
    assert asirp.io.open(f"{path}::/scan/plot").meta["dataset"] == "/scan/plot/counts"  # group -> @signal
    with pytest.raises(ParameterError, match="dataset given twice"):
        asirp.io.open(f"{path}::/scan/other", dataset="/scan/plot/counts")


def test_plain_hdf5_single_image_and_ambiguous_files(tmp_path):
    single = tmp_path / "single.h5"
    with h5py.File(single, "w") as f:
        f["images/frame"] = counts()
        f["images/angles"] = np.arange(5.0)
        detector = f.create_group("instrument/detector")
        detector.attrs["NX_class"] = "NXdetector"
        detector["flatfield"] = np.ones((NY, NX))  # calibration, not an image candidate
    assert asirp.io.open(single).meta["dataset"] == "/images/frame"
    assert asirp.io.open(single).meta["format"] == "hdf5"

    several = tmp_path / "several.h5"
    with h5py.File(several, "w") as f:
        f["a"] = counts()
        f["b/c"] = counts(shape=(2, NY, NX))
    with pytest.raises(InputError, match="several image datasets") as info:
        asirp.io.open(several)
    assert "several.h5" in str(info.value) and "/a" in str(info.value) and "/b/c" in str(info.value)


def test_eiger_like_master_file_external_bitshuffle_data_pixel_mask_sentinel_and_cutoff(tmp_path):
    path = tmp_path / "eiger_master.h5"
    data = counts(seed=4, shape=(2, NY, NX), dtype=np.uint32)
    data[1, 6, 6] = 2**32 - 1
    data[0, 8, 9] = 900
    pixel_mask = np.zeros((NY, NX), dtype=np.uint32)
    pixel_mask[0, :] = 1  # gap
    pixel_mask[10, 10] = 8  # noisy
    with h5py.File(tmp_path / "eiger_data_000001.h5", "w") as f:
        f.create_dataset("entry/data/data", data=data, chunks=(1, NY, NX), **hdf5plugin.Bitshuffle(cname="lz4"))
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        nxdata = entry.create_group("data")
        nxdata.attrs["NX_class"] = "NXdata"
        nxdata["data_000001"] = h5py.ExternalLink("eiger_data_000001.h5", "/entry/data/data")
        detector = entry.create_group("instrument/detector")
        detector.attrs["NX_class"] = "NXdetector"
        specific = detector.create_group("detectorSpecific")
        specific["pixel_mask"] = pixel_mask
        specific["countrate_correction_count_cutoff"] = np.uint32(800)
        detector["count_time"] = 0.1
        detector["x_pixel_size"] = 75e-6
        detector["x_pixel_size"].attrs["units"] = "m"
        detector["y_pixel_size"] = 75e-6
        detector["y_pixel_size"].attrs["units"] = "m"
    before = sha256(path)
    frame = asirp.io.open(path)
    assert sha256(path) == before
    assert frame.meta["dataset"] == "/entry/data/data_000001"
    expected = (pixel_mask[None] == 0) & (data != 2**32 - 1) & (data < 800)
    np.testing.assert_array_equal(frame.valid, expected)
    assert frame.meta["mask_sources"] == {
        "pixel_mask": 2 * (NX + 1),
        "dtype_max_sentinel": 1,
        "saturation": int((data >= 800).sum()),
    }
    assert frame.meta["pixel_mask_dataset"] == "/entry/instrument/detector/detectorSpecific/pixel_mask"
    assert frame.meta["saturation"] == 800 and frame.meta["exposure_time_s"] == 0.1
    assert frame.pixel_size == PixelSize(75.0, 75.0, "um")
    # a saturation given by the user replaces the file's
    assert asirp.io.open(path, saturation=2000).valid[0, 8, 9]


def test_nexus_detector_pixel_mask_and_saturation_value(tmp_path):
    path = tmp_path / "nxdet.nxs"
    data = counts(seed=5)
    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs.update(NX_class="NXentry", default="data")
        nxdata = entry.create_group("data")
        nxdata.attrs.update(NX_class="NXdata", signal="data")
        nxdata["data"] = data
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        detector = instrument.create_group("pilatus")
        detector.attrs["NX_class"] = "NXdetector"
        mask = np.zeros((NY, NX), dtype=np.int8)
        mask[:, 0] = 1
        detector["pixel_mask"] = mask
        detector["saturation_value"] = 60
    frame = asirp.io.open(path)
    np.testing.assert_array_equal(frame.valid, (mask == 0) & (data < 60))
    assert frame.meta["mask_sources"]["pixel_mask"] == NY


# NXdetector pixel_mask bits (NeXus base class NXdetector).
GAP, DEAD, NOISY, VIRTUAL = 1, 2, 16, 2**31
REAL_LAMBDA = Path("/work/shared/data/diffraction/lambda_m2")


def _lambda_file(path: Path, *, n_frames: int = 3, flatfield: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A file in the layout of Lambda (and Eiger/PILATUS NeXus writers): no NXdata, the frames in
    /entry/instrument/detector/data, one (1, ny, nx) pixel mask and flat field for all frames."""
    data = np.random.default_rng(7).poisson(0.5, size=(n_frames, NY, NX)).astype(np.int16)
    data[:, :, 5] = -1  # a gap column, also flagged in the pixel mask
    data[1, 2, 3] = 4095  # saturated
    data[2, 9, 9] = 5000  # above saturation
    pixel_mask = np.zeros((1, NY, NX), dtype=np.uint32)
    pixel_mask[0, :, 5] = GAP
    pixel_mask[0, 3, 7] = DEAD
    pixel_mask[0, 6, 1] = NOISY | DEAD
    pixel_mask[0, 10, 10:12] = VIRTUAL
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        detector = instrument.create_group("detector")
        detector.attrs["NX_class"] = "NXdetector"
        detector.create_dataset("data", data=data, chunks=(1, NY, NX), compression="gzip")
        detector["pixel_mask"] = pixel_mask
        detector["flatfield"] = (np.full((1, NY, NX), 1.02, np.float32) if flatfield is None else flatfield)
        detector["saturation_value"] = np.array([4095], dtype=np.uint32)
        detector["count_time"] = np.array([100.0])
        detector["count_time"].attrs["units"] = "millisecond"
        for axis in ("x", "y"):
            detector[f"{axis}_pixel_size"] = np.array([55.0])
            detector[f"{axis}_pixel_size"].attrs["units"] = "micrometer"
        detector["flatfield_applied"] = np.array([0], dtype=np.int8)
        detector["pixel_mask_applied"] = np.array([0], dtype=np.int8)
        detector["type"] = np.array([b"photon counting"], dtype=object)
        detector["description"] = np.array([b"Lambda"], dtype=object)
        collection = detector.create_group("collection")
        collection.attrs["NX_class"] = "NXcollection"
        collection["error_code"] = np.zeros(n_frames, dtype=np.int32)
    return data, pixel_mask


def test_nxdetector_data_is_the_image_when_there_is_no_nxdata(tmp_path, recwarn):
    path = tmp_path / "lambda_m2_part00000.nxs"
    data, pixel_mask = _lambda_file(path)
    frame = asirp.io.open(path)
    assert not [w for w in recwarn if "ignoring mask" in str(w.message)]
    assert frame.meta["dataset"] == "/entry/instrument/detector/data"
    assert frame.meta["format"] == "nexus" and frame.shape == (3, NY, NX)
    # the (1, ny, nx) pixel mask applies to every frame; -1 and >= saturation_value are masked too
    expected = (pixel_mask == 0) & (data >= 0) & (data < 4095)
    np.testing.assert_array_equal(frame.valid, expected)
    assert frame.meta["mask_sources"] == {
        "pixel_mask": 3 * int((pixel_mask != 0).sum()),
        "negative_sentinel": 3 * NY,
        "saturation": 2,
    }
    assert frame.meta["pixel_mask_reasons"] == {"gap": NY, "dead": 2, "noisy": 1, "virtual": 2}
    assert frame.meta["saturation"] == 4095 and frame.meta["exposure_time_s"] == pytest.approx(0.1)
    assert frame.pixel_size == PixelSize(55.0, 55.0, "um")
    assert frame.meta["flatfield"].shape == (NY, NX) and frame.meta["flatfield"][0, 0] == np.float32(1.02)
    assert frame.meta["flatfield_dataset"] == "/entry/instrument/detector/flatfield"
    assert frame.meta["flatfield_applied"] is False and frame.meta["pixel_mask_applied"] is False
    assert frame.meta["detector_type"] == "photon counting" and frame.meta["detector_description"] == "Lambda"
    np.testing.assert_array_equal(frame.data, np.where(expected, data, 0).astype(np.float32))  # never flat-fielded
    info = asirp.io.file_info(path)
    assert info["pixel_mask_reasons"]["gap"] == NY and info["dataset"] == "/entry/instrument/detector/data"
    json.dumps(info)
    # the explicit path gives the same frame, without the (1, ny, nx) mask warning of old
    explicit = asirp.io.open(f"{path}::/entry/instrument/detector/data")
    np.testing.assert_array_equal(explicit.valid, frame.valid)


def test_nxdetector_all_nan_flatfield_is_noted_not_kept_and_big_meta_arrays_are_not_saved_as_json(tmp_path):
    path = tmp_path / "nan_flat.nxs"
    _lambda_file(path, flatfield=np.full((1, NY, NX), np.nan, np.float32))
    frame = asirp.io.open(path)
    assert "flatfield" not in frame.meta and "NaN" in frame.meta["flatfield_note"]
    wide = tmp_path / "wide.nxs"
    ny, nx = 40, 40
    with h5py.File(wide, "w") as f:
        detector = f.create_group("entry/instrument/detector")
        f["entry"].attrs["NX_class"] = "NXentry"
        f["entry/instrument"].attrs["NX_class"] = "NXinstrument"
        detector.attrs["NX_class"] = "NXdetector"
        detector["data"] = np.ones((ny, nx), np.int32)
        detector["flatfield"] = np.ones((ny, nx), np.float32)
    frame = asirp.io.open(wide)
    assert frame.meta["flatfield"].shape == (ny, nx)
    saved = asirp.io.save(frame, tmp_path / "saved.nxs")
    with h5py.File(saved) as f:
        assert "flatfield" in list(f["entry/meta"].attrs["dropped_keys"])
        assert "flatfield" not in json.loads(f["entry/meta/data"].asstr()[()])
    assert asirp.io.open(saved).meta["flatfield_dataset"] == "/entry/instrument/detector/flatfield"


def test_pixel_mask_with_leading_axis_of_one_applies_to_a_single_image(tmp_path):
    path = tmp_path / "single.nxs"
    data = counts(seed=8)
    mask = np.zeros((1, NY, NX), dtype=np.int32)
    mask[0, 0, :] = -(2**31)  # bit 31 (virtual pixel) of a signed mask
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        detector = entry.create_group("instrument/detector")
        detector.attrs["NX_class"] = "NXdetector"
        detector["data"] = data
        detector["pixel_mask"] = mask
        detector["count_time"] = 2.0  # seconds: the NeXus default unit
    frame = asirp.io.open(path)
    assert frame.shape == (NY, NX) and not frame.valid[0].any() and frame.valid[1:].all()
    assert frame.meta["pixel_mask_reasons"] == {"virtual": NX}
    assert frame.meta["exposure_time_s"] == 2.0


def test_several_nxdetector_data_fields_are_listed(tmp_path):
    path = tmp_path / "two.nxs"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        for name in ("module1", "module2"):
            detector = entry.create_group(f"instrument/{name}")
            detector.attrs["NX_class"] = "NXdetector"
            detector["data"] = counts(shape=(2, NY, NX))
    with pytest.raises(InputError, match="several NXdetector data fields") as info:
        asirp.io.open(path)
    assert "/entry/instrument/module1/data" in str(info.value) and "/entry/instrument/module2/data" in str(info.value)
    assert asirp.io.open(f"{path}::/entry/instrument/module2/data").shape == (2, NY, NX)


@pytest.mark.skipif(not REAL_LAMBDA.is_dir(), reason="real Lambda series (/work/shared/data) not available")
def test_real_lambda_nexus_file_opens_as_a_masked_stack():
    path = sorted(REAL_LAMBDA.glob("*.nxs"))[0]
    frame = asirp.io.open(path)
    assert frame.shape == (10, 516, 1554) and frame.meta["dataset"] == "/entry/instrument/detector/data"
    reasons = frame.meta["pixel_mask_reasons"]
    assert reasons["gap"] > 0 and reasons["virtual"] > 0
    assert frame.meta["saturation"] == 4095 and frame.meta["exposure_time_s"] == pytest.approx(0.1)
    assert frame.pixel_size == PixelSize(55.0, 55.0, "um")
    with h5py.File(path) as f:
        stored = f["entry/instrument/detector/pixel_mask"][0]
    assert frame.meta["mask_sources"]["pixel_mask"] == 10 * int(np.count_nonzero(stored))
    assert not frame.valid[:, stored != 0].any()  # one mask for every frame
    assert (frame.data[frame.valid] >= 0).all() and frame.data.max() < 4095
def test_nexus_pixel_size_from_axis_datasets(tmp_path):
    path = tmp_path / "axes.nxs"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        nxdata = entry.create_group("map")
        nxdata.attrs.update(NX_class="NXdata", signal="counts", axes=["sample_y", "sample_x"])
        nxdata["counts"] = counts(seed=7)
        nxdata["sample_y"] = 3.0 + 0.025 * np.arange(NY)  # 25 um scan steps, in mm
        nxdata["sample_y"].attrs["units"] = "mm"
        nxdata["sample_x"] = 1000.0 - 10.0 * np.arange(NX)  # 10 um steps, decreasing
        nxdata["sample_x"].attrs["units"] = "micron"
    frame = asirp.io.open(path)
    assert frame.pixel_size.unit == "mm"
    assert frame.pixel_size.to("um").y == pytest.approx(25.0) and frame.pixel_size.to("um").x == pytest.approx(10.0)
    assert frame.kind == "image"  # no asirp kind attribute, no geometry


# -- asirp's own NeXus files ------------------------------------------------------------------


@pytest.mark.parametrize("stack", [False, True])
def test_nexus_round_trip_restores_everything(tmp_path, stack):
    frame = rich_frame(tmp_path, stack=stack)
    path = asirp.io.save(frame, tmp_path / "out.nxs")
    assert path == (tmp_path / "out.nxs").absolute()
    back = asirp.io.open(path)
    np.testing.assert_array_equal(back.data, frame.data)
    np.testing.assert_array_equal(back.valid, frame.valid)
    assert back.kind == "scattering"
    assert back.pixel_size == PixelSize(75.0, 50.0, "um")
    for key in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
        assert back.geometry.poni[key] == pytest.approx(frame.geometry.poni[key], rel=1e-12, abs=1e-15)
    assert back.geometry.detector_shape == (NY, NX)
    assert back.history[:3] == frame.history  # HistoryStep equality: every field
    assert back.history[-1].method == "read" and len(back.history) == 4
    assert back.history[-1].inputs == ({"name": str(path), "sha256": sha256(path)},)
    assert back.meta["operator"] == "beamline" and back.meta["energy_keV"] == 12.4
    assert back.meta["numbers"] == [0, 1, 2]
    assert "opaque" not in back.meta  # not JSON-serialisable: left out
    assert back.meta["mask_sources"] == {"nxdata_mask": int((~frame.valid).sum())}
    assert back.meta["source"] == f"{path}::/entry/data/data"


def test_nexus_layout_is_plain_nexus(tmp_path):
    frame = rich_frame(tmp_path)
    path = asirp.io.save(frame, tmp_path / "layout.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs["default"] == "entry" and f.attrs["creator"].startswith("asirp ")
        assert f.attrs["file_name"] == "layout.h5" and "file_time" in f.attrs and "NeXus_version" in f.attrs
        assert f["entry"].attrs["NX_class"] == "NXentry" and f["entry"].attrs["default"] == "data"
        nxdata = f["entry/data"]
        assert nxdata.attrs["signal"] == "data" and list(nxdata.attrs["axes"]) == ["y", "x"]
        assert nxdata["data"].dtype == np.float32
        assert nxdata["data"].compression == "gzip" and nxdata["data"].shuffle
        assert nxdata["mask"].dtype == np.uint8
        np.testing.assert_array_equal(nxdata["mask"][()], (~frame.valid).astype(np.uint8))
        assert nxdata["x"].attrs["units"] == "um"
        np.testing.assert_allclose(nxdata["x"][()], (np.arange(NX) + 0.5) * 50.0)
        detector = f["entry/instrument/detector"]
        assert detector.attrs["NX_class"] == "NXdetector"
        assert detector["distance"][()] == pytest.approx(0.2) and detector["distance"].attrs["units"] == "m"
        assert "Distance: 0.2" in detector["poni"].asstr()[()]


def test_nexus_without_mask_or_pixel_size_has_index_axes(tmp_path):
    frame = Frame(np.ones((NY, NX), np.float32), kind="image")
    path = asirp.io.save(frame, tmp_path / "plain.nxs")
    with h5py.File(path, "r") as f:
        assert "mask" not in f["entry/data"] and "instrument" not in f["entry"]
        assert f["entry/data/x"].attrs["units"] == "pixel"
        np.testing.assert_array_equal(f["entry/data/x"][()], np.arange(NX))
    back = asirp.io.open(path)
    assert back.pixel_size is None and back.geometry is None and back.valid.all() and back.kind == "image"


def test_nxprocess_groups_one_per_step_in_order_with_json_and_checksums(tmp_path):
    tif = tmp_path / "input.tif"
    tifffile.imwrite(tif, counts(seed=6))
    read = asirp.io.open(tif)
    step = HistoryStep("gaussian", {"sigma": 2.0, "mode": "nearest"}, duration_s=0.5, notes={"psf_fwhm_px": 4.7})
    network = HistoryStep("zssr", {"scale": 2}, weights_sha256="f" * 64)
    frame = read.derive(read.data * 2, step).derive(read.data * 3, network)
    path = asirp.io.save(frame, tmp_path / "restored.nxs")
    with h5py.File(path, "r") as f:
        groups = [name for name in f["entry"] if f["entry"][name].attrs.get("NX_class") == "NXprocess"]
        assert groups == ["process_01_read", "process_02_gaussian", "process_03_zssr"]
        for index, (name, original) in enumerate(zip(groups, frame.history, strict=True), start=1):
            group = f["entry"][name]
            assert group["sequence_index"][()] == index
            assert group["method"].asstr()[()] == original.method
            assert group["program"].asstr()[()] == "asirp"
            assert group["parameters"].attrs["NX_class"] == "NXnote"
            assert group["parameters/type"].asstr()[()] == "application/json"
            assert json.loads(group["parameters/data"].asstr()[()]) == original.parameters
            assert json.loads(group["notes/data"].asstr()[()]) == original.notes
            assert group["duration"].attrs["units"] == "s"
            assert ("weights_sha256" in group) == (original.weights_sha256 is not None)
        first = f["entry/process_01_read"]
        assert list(first["input_files"].asstr()[()]) == [str(tif.absolute())]
        assert list(first["input_sha256"].asstr()[()]) == [sha256(tif)]
        assert f["entry/process_03_zssr/weights_sha256"].asstr()[()] == "f" * 64
    assert asirp.io.open(path).history[:3] == frame.history


def test_saved_nexus_is_read_by_silx(tmp_path):
    silx_io = pytest.importorskip("silx.io")
    nxdata = pytest.importorskip("silx.io.nxdata")
    frame = rich_frame(tmp_path, stack=True)
    path = asirp.io.save(frame, tmp_path / "silx.nxs")
    with silx_io.open(str(path)) as handle:
        np.testing.assert_array_equal(handle["/entry/data/data"][()], frame.data)
        default = nxdata.get_default(handle)
        assert default is not None and default.is_valid
        assert default.signal.shape == (3, NY, NX)
        assert default.interpretation == "image"


# -- TIFF, NPY and PNG outputs ----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tif", ".npy"])
def test_tiff_and_npy_outputs_store_mask_as_nan(tmp_path, suffix):
    frame = rich_frame(tmp_path, stack=suffix == ".tif")
    path = asirp.io.save(frame, tmp_path / f"out{suffix}")
    stored = tifffile.imread(path) if suffix == ".tif" else np.load(path)
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(stored), ~frame.valid)
    np.testing.assert_array_equal(stored[frame.valid], frame.data[frame.valid])
    back = asirp.io.open(path)
    np.testing.assert_array_equal(back.valid, frame.valid)
    assert back.meta["mask_sources"] == {"non_finite": int((~frame.valid).sum())}
    if suffix == ".tif":  # asirp's TIFF description keeps kind and pixel size
        assert back.kind == "scattering" and back.pixel_size == frame.pixel_size


def test_png_picture_and_its_helpers(tmp_path):
    import matplotlib.image

    frame = rich_frame(tmp_path, stack=True)
    path = asirp.io.save(frame, tmp_path / "picture.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert export.scale_bar_length(800.0) == 100.0  # a fifth is 160 -> 100
    assert export.scale_bar_length(168.7) == 20.0
    assert export.scale_bar_length(0.9) == 0.1
    low, high = export.colour_limits(np.arange(101.0))
    assert (low, high) == (1.0, 99.0)
    assert export.colour_limits(np.full(5, 3.0)) == (3.0, 4.0)
    # a stack whose first frame is entirely masked is shown by its first frame with data
    valid = np.ones((2, NY, NX), dtype=bool)
    valid[0] = False
    blank_first = Frame(np.ones((2, NY, NX), np.float32), valid)
    second = asirp.io.save(blank_first, tmp_path / "second.png")
    assert second.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- file_info -------------------------------------------------------------------------------


def test_file_info_statistics_mask_geometry_and_history(tmp_path):
    path = tmp_path / "det.tif"
    data = np.arange(NY * NX, dtype=np.int32).reshape(NY, NX)
    data[0, 0] = -1  # gap
    tifffile.imwrite(path, data)
    (tmp_path / "det.poni").write_text(geometry().to_text())
    info = asirp.io.file_info(path)
    valid = data[data >= 0].astype(np.float64)
    assert info["path"] == str(path.absolute()) and info["format"] == "tiff" and info["dtype"] == "int32"
    assert info["shape"] == [NY, NX] and info["kind"] == "diffraction"  # a geometry is attached
    assert info["masked_fraction"] == pytest.approx(1 / (NY * NX))
    assert info["mask_sources"] == {"negative_sentinel": 1}
    assert info["min"] == 1.0 and info["max"] == NY * NX - 1
    assert info["mean"] == pytest.approx(valid.mean()) and info["median"] == np.median(valid)
    assert info["sum"] == valid.sum() and info["zero_fraction"] == 0.0
    assert info["pixel_size"] == {"y": pytest.approx(100.0), "x": pytest.approx(100.0), "unit": "um"}
    # PONI poni1 = 1 mm with 100 um pixels, no tilt: the beam is at pixel 10 (y) and 15 (x)
    assert info["geometry"]["beam_center_px"] == pytest.approx([10.0, 15.0])
    assert info["geometry"]["distance_m"] == 0.2 and info["geometry"]["wavelength_A"] == pytest.approx(1.0)
    assert info["history"] == ["read"]
    json.dumps(info)  # plain values only


# -- geometry and kind ------------------------------------------------------------------------


def test_sibling_poni_attached_explicit_poni_wins_and_mismatch_refused(tmp_path):
    path = tmp_path / "img.npy"
    np.save(path, counts())
    (tmp_path / "img.poni").write_text(geometry().to_text())
    frame = asirp.io.open(path)
    assert frame.kind == "diffraction" and frame.meta["geometry_source"] == str((tmp_path / "img.poni").absolute())
    assert asirp.io.open(path, kind="scattering").kind == "scattering"
    other = tmp_path / "other.poni"
    other.write_text(geometry(shape=(NY + 1, NX)).to_text())
    with pytest.raises(InputError, match="geometry is for a 13x16 detector") as info:
        asirp.io.open(path, poni=other)
    assert "img.npy" in str(info.value) and "other.poni" in str(info.value)



#: A version-1 PONI as pyFAI-calib wrote it for a 1043 x 981 PILATUS 1M (no detector shape):
#: the beam near pixel (513, 487). Issue 17: attached to 64 x 64 frames, it was accepted.
PILATUS_PONI_V1 = """# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis
PixelSize1: 0.000172
PixelSize2: 0.000172
Distance: 0.208651380603
Poni1: 0.0872948482846
Poni2: 0.0799601126306
Rot1: -0.0184422457059
Rot2: 0.00413760084465
Rot3: 0
SplineFile: None
Wavelength: 4.066e-11
"""


@pytest.mark.parametrize("shape", [(64, 64), (12, 16), (30, 100)])
def test_poni_of_another_detector_is_refused_naming_the_files(tmp_path, shape):
    path = tmp_path / "small.npy"
    np.save(path, counts(shape=shape))
    poni = tmp_path / "pilatus1m.poni"
    poni.write_text(PILATUS_PONI_V1)
    assert Geometry.from_file(poni).detector_shape is None  # only the beam position can tell
    with pytest.raises(InputError, match="geometry does not fit") as info:
        asirp.io.open(path, poni=poni)
    message = str(info.value)
    assert "small.npy" in message and "pilatus1m.poni" in message and "\n" not in message
    with pytest.raises(InputError, match="does not fit"):  # the same check where a frame gets a geometry
        Frame(counts(shape=shape), geometry=Geometry.from_file(poni))


def test_poni_without_detector_shape_is_accepted_where_it_can_fit(tmp_path):
    poni = Geometry.from_text(PILATUS_PONI_V1)
    Frame(np.ones((1043, 981)), geometry=poni)  # the detector it was made for
    Frame(np.ones((600, 500)), geometry=poni)  # a region holding the beam
    Frame(np.ones((400, 400)), geometry=poni)  # beam 160 px beside it: a detector off the beam
    # A WAXS detector facing the sample: the beam far off it, the normal incidence on it.
    waxs = Geometry.from_params(dist=0.1, poni1=0.005, poni2=0.005, rot1=0.6, wavelength=1e-10, pixel1=1e-4, pixel2=1e-4)
    assert min(waxs.beam_center_px()) < -500
    Frame(np.ones((100, 100)), geometry=waxs)
    # A PONI stating the detector shape is taken at its word, wherever its beam is.
    far = Geometry.from_params(dist=0.1, poni1=0.5, poni2=0.5, wavelength=1e-10, pixel1=1e-4, pixel2=1e-4,
                               max_shape=(32, 32))
    Frame(np.ones((32, 32)), geometry=far)

def test_bad_options_are_parameter_errors(tmp_path):
    path = tmp_path / "img.npy"
    np.save(path, counts())
    with pytest.raises(ParameterError, match="unknown kind"):
        asirp.io.open(path, kind="photo")
    with pytest.raises(ParameterError, match="saturation"):
        asirp.io.open(path, saturation=-5)
    with pytest.raises(ParameterError, match="only be selected in an HDF5 file"):
        asirp.io.open(path, dataset="/x")


# -- bad inputs -------------------------------------------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name -> (path given to open, expected words of the message)."""
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "folder.tif").mkdir()
    good = tmp_path / "truncated.h5"
    with h5py.File(good, "w") as f:
        f["data"] = np.ones((64, 64))
    good.write_bytes(good.read_bytes()[:1500])
    with h5py.File(tmp_path / "layout.h5", "w") as f:
        f["entry/data"] = np.ones((NY, NX))
        f["entry/line"] = np.ones(NX)
        f["entry/cube"] = np.ones((2, 2, NY, NX))
        f["entry/complex"] = np.ones((NY, NX), dtype=np.complex64)
        f["entry/text"] = "hello"
        f["entry/flags"] = np.ones((NY, NX), dtype=bool)
    (tmp_path / "notes.xyz").write_text("this is not an image\n" * 5)
    (tmp_path / "garbage.tif").write_bytes(b"II*\x00" + b"\xff" * 60)
    (tmp_path / "fake.h5").write_text("not hdf5 at all, only text that pretends")
    edf = tmp_path / "cut.edf"
    EdfImage(data=counts()).write(str(edf))
    edf.write_bytes(edf.read_bytes()[:300])
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(tmp_path / "masked.npy", np.full((NY, NX), np.nan))
    np.save(tmp_path / "cut.npy", np.ones((NY, NX)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:400])
    np.save(tmp_path / "huge.npy", np.full((NY, NX), 1e300))
    layout = tmp_path / "layout.h5"
    return {
        "missing": (str(tmp_path / "nowhere.tif"), "no such file"),
        "directory": (str(tmp_path / "folder.tif"), "is a directory"),
        "empty": (str(tmp_path / "empty.h5"), "empty (0 bytes)"),
        "truncated": (str(good), "truncated, corrupt"),
        "not hdf5": (str(tmp_path / "fake.h5"), "not a readable HDF5 file"),
        "no dataset": (f"{layout}::/entry/dta", "no dataset /entry/dta"),
        "1-D": (f"{layout}::/entry/line", "expected an image"),
        "4-D": (f"{layout}::/entry/cube", "4-D data"),
        "complex": (f"{layout}::/entry/complex", "dtype complex64"),
        "text": (f"{layout}::/entry/text", "dtype object"),
        "bool": (f"{layout}::/entry/flags", "dtype bool"),
        "unknown": (str(tmp_path / "notes.xyz"), "unknown file format"),
        "bad tiff": (str(tmp_path / "garbage.tif"), "TIFF"),
        "bad edf": (str(edf), "unreadable .edf file"),
        "objects": (str(tmp_path / "objects.npy"), "dtype object"),
        "cut npy": (str(tmp_path / "cut.npy"), "unreadable .npy file"),
        "all masked": (str(tmp_path / "masked.npy"), "every pixel is masked"),
        "float64 range": (str(tmp_path / "huge.npy"), "float32 range"),
    }


def test_bad_inputs_raise_input_error_naming_file_and_problem(tmp_path):
    for case, (given, words) in _bad_files(tmp_path).items():
        with pytest.raises(InputError) as info:
            asirp.io.open(given)
        message = str(info.value)
        assert Path(given.split("::")[0]).name in message, (case, message)
        assert words in message, (case, message)


def test_missing_dataset_lists_what_exists(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f["entry/data"] = np.ones((NY, NX))
        f["entry/sub/more"] = np.ones((NY, NX))
    with pytest.raises(InputError) as info:
        asirp.io.open(f"{path}::/entry/nothing")
    assert "/entry contains: data (dataset), sub (group)" in str(info.value)


# -- safe outputs -----------------------------------------------------------------------------


def test_existing_output_needs_force_and_unknown_suffix_refused(tmp_path):
    frame = Frame(np.ones((NY, NX), np.float32))
    target = tmp_path / "out.npy"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="exists; use --force"):
        asirp.io.save(frame, target)
    assert target.read_bytes() == b"old"
    asirp.io.save(frame, target, force=True)
    np.testing.assert_array_equal(np.load(target), frame.data)
    with pytest.raises(OutputError, match=r"unknown output format '\.jpg'.*\.nxs.*\.tif.*\.npy.*\.png"):
        asirp.io.save(frame, tmp_path / "out.jpg")


def test_refuses_to_overwrite_an_input_even_with_force(tmp_path):
    path = tmp_path / "input.h5"
    with h5py.File(path, "w") as f:
        f["data"] = counts()
    before = sha256(path)
    frame = asirp.io.open(path)
    (tmp_path / "sub").mkdir()
    for target in (path, tmp_path / "sub" / ".." / "input.h5"):
        with pytest.raises(OutputError, match="would overwrite the input file"):
            asirp.io.save(frame, target, force=True)
    link = tmp_path / "hardlink.h5"
    os.link(path, link)
    with pytest.raises(OutputError, match="would overwrite the input file"):
        asirp.io.save(frame, link, force=True)
    # an input of an earlier step counts too (named with or without its dataset), after the source changed
    method_step = HistoryStep("gaussian", {"sigma": 1.0}, inputs=({"name": f"{path}::/data", "sha256": before},))
    for history in (frame.history, (method_step,)):
        derived = Frame(frame.data, frame.valid, meta={"source": str(tmp_path / "elsewhere.nxs")}, history=history)
        with pytest.raises(OutputError, match="would overwrite the input file"):
            asirp.io.save(derived, path, force=True)
    assert sha256(path) == before


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    frame = rich_frame(tmp_path)
    target = tmp_path / "result.nxs"
    asirp.io.save(frame, target)
    old = target.read_bytes()
    listing = sorted(p.name for p in tmp_path.iterdir())

    def fail(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(nexus, "write_history", fail)  # fails after data were written
    with pytest.raises(RuntimeError, match="disk full"):
        asirp.io.save(frame, target, force=True)
    assert target.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no temporary left
    monkeypatch.undo()
    asirp.io.save(rich_frame(tmp_path), target, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
    assert asirp.io.open(target).kind == "scattering"


def test_fabio_reads_what_asirp_reads_back_unchanged(tmp_path):
    """The EDF written by fabio is read with the same values by fabio and by asirp (no hidden scaling)."""
    path = tmp_path / "plain.edf"
    data = counts(seed=8, dtype=np.uint16)
    EdfImage(data=data).write(str(path))
    np.testing.assert_array_equal(asirp.io.open(path).data, fabio.open(str(path)).data.astype(np.float32))
