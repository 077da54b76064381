"""Frame, units, geometry and provenance steps."""

import numpy as np
import pytest

from asirp import Frame, Geometry, InputError, ParameterError, PixelSize, stack
from asirp.history import HistoryStep, sha256_of_file
from asirp.units import convert_length, parse_length


def test_from_array_masks_non_finite_and_zeroes_them():
    data = np.array([[1.0, np.nan, 3.0], [np.inf, 0.0, -np.inf]])
    frame = Frame.from_array(data)
    assert frame.valid.tolist() == [[True, False, True], [False, True, False]]
    assert frame.data.dtype == np.float32
    assert np.all(frame.data[~frame.valid] == 0)
    # a zero count is a measurement, never masked
    assert frame.valid[1, 1]


def test_constructor_rejects_nan_at_valid_pixels():
    with pytest.raises(InputError, match="NaN or inf"):
        Frame(np.array([[1.0, np.nan], [1.0, 1.0]]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros(5), "1-D"),
        (np.zeros((2, 2, 2, 2)), "4-D"),
        (np.zeros((4, 4), dtype=complex), "complex"),
        (np.zeros((4, 4), dtype=bool), "bool"),
        (np.zeros((1, 4)), "too small"),
    ],
)
def test_bad_shapes_and_dtypes(data, message):
    with pytest.raises(InputError, match=message):
        Frame(data)


def test_all_masked_frame_is_an_error():
    with pytest.raises(InputError, match="every pixel is masked"):
        Frame(np.ones((4, 4)), np.zeros((4, 4), dtype=bool))


def test_error_names_the_source_file():
    with pytest.raises(InputError, match=r"^scan\.h5: "):
        Frame(np.zeros(3), meta={"source": "scan.h5"})


def test_mask_must_match_and_be_boolean():
    with pytest.raises(InputError, match="shape"):
        Frame(np.ones((4, 4)), np.ones((3, 4), dtype=bool))
    with pytest.raises(InputError, match="boolean"):
        Frame(np.ones((4, 4)), np.ones((4, 4), dtype=np.uint8))


def test_frames_are_immutable_and_do_not_alias_input():
    source = np.arange(16, dtype=np.float32).reshape(4, 4)
    frame = Frame(source)
    with pytest.raises(ValueError):
        frame.data[0, 0] = 5
    with pytest.raises(ValueError):
        frame.valid[0, 0] = False


def test_stack_and_images_round_trip():
    frames = [Frame(np.full((3, 4), i, dtype=np.float32), kind="diffraction") for i in range(3)]
    stacked = stack(frames)
    assert stacked.is_stack and stacked.shape == (3, 3, 4) and stacked.image_shape == (3, 4)
    assert [float(f.data.mean()) for f in stacked.images()] == [0.0, 1.0, 2.0]
    with pytest.raises(InputError):
        stack([frames[0], Frame(np.ones((5, 5)))])


def test_derive_appends_history_and_keeps_mask():
    valid = np.ones((4, 4), dtype=bool)
    valid[0, 0] = False
    frame = Frame(np.ones((4, 4)), valid, kind="xrf_map", pixel_size=PixelSize.square(25))
    out = frame.derive(np.full((4, 4), 2.0), HistoryStep(method="test"))
    assert [s.method for s in out.history] == ["test"]
    assert not out.valid[0, 0] and out.kind == "xrf_map" and out.pixel_size == frame.pixel_size
    assert frame.history == ()


def test_pixel_size_units():
    size = PixelSize(25, 50, "µm")
    assert size.unit == "um"
    assert size.to("mm") == PixelSize(0.025, 0.05, "mm")
    assert size.scaled(2) == PixelSize(12.5, 25, "um")
    with pytest.raises(ParameterError):
        PixelSize(0, 1)
    with pytest.raises(ParameterError, match="unknown length unit"):
        PixelSize(1, 1, "furlong")


def test_parse_length():
    assert parse_length("50um") == (50.0, "um")
    assert parse_length(" 0.05 mm") == (0.05, "mm")
    assert parse_length(7) == (7.0, "um")
    assert convert_length(*parse_length("0.05mm"), "um") == pytest.approx(50.0)
    with pytest.raises(ParameterError):
        parse_length("fifty microns")


def test_geometry_round_trip_and_shape_check(tmp_path):
    geometry = Geometry.from_params(dist=0.2, poni1=0.05, poni2=0.04, wavelength=1e-10, pixel1=172e-6,
                                    pixel2=172e-6, max_shape=(400, 300))
    assert geometry.beam_center_px() == pytest.approx((0.05 / 172e-6, 0.04 / 172e-6))
    again = Geometry.from_text(geometry.to_text())
    assert again.poni["dist"] == pytest.approx(0.2) and again.detector_shape == (400, 300)
    path = tmp_path / "g.poni"
    path.write_text(geometry.to_text())
    assert Geometry.from_file(path).poni["poni2"] == pytest.approx(0.04)
    Frame(np.ones((400, 300)), geometry=geometry)
    with pytest.raises(InputError, match="400x300 detector"):
        Frame(np.ones((100, 100)), geometry=geometry)
    with pytest.raises(InputError, match="not found"):
        Geometry.from_file(tmp_path / "missing.poni")


def test_history_step_serialises(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert sha256_of_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    step = HistoryStep(method="m", parameters={"a": np.float32(1.5)}, inputs=({"name": str(path), "sha256": "x"},))
    assert step.parameters_json() == '{"a": 1.5}'
    assert HistoryStep.from_dict(step.to_dict()) == step


def test_frames_pickle_for_dask_and_multiprocessing():
    import pickle

    geometry = Geometry.from_params(dist=0.2, poni1=4e-4, poni2=4e-4, wavelength=1e-10, pixel1=1e-4, pixel2=1e-4)
    valid = np.ones((8, 9), dtype=bool)
    valid[0, 0] = False
    frame = Frame(np.arange(72.0).reshape(8, 9), valid, kind="diffraction", pixel_size=PixelSize.square(100),
                  geometry=geometry, meta={"source": "x.cbf"}, history=(HistoryStep(method="read"),))
    again = pickle.loads(pickle.dumps(frame))
    np.testing.assert_array_equal(again.data, frame.data)
    np.testing.assert_array_equal(again.valid, frame.valid)
    assert (again.kind, again.pixel_size, dict(again.meta), again.history) == (
        frame.kind, frame.pixel_size, dict(frame.meta), frame.history)
    assert again.geometry.beam_center_px() == pytest.approx(frame.geometry.beam_center_px())
