"""Workspace files: the boxes they hold (region, line, view) are checked when read, with the file named."""

import json

import pytest

from asirp.errors import InputError
from asirp.view.state import FORMAT, VERSION, PageState, Restoration, XrfMap, load_state


def _write(tmp_path, **fields):
    path = tmp_path / "view.json"
    path.write_text(json.dumps({"format": FORMAT, "version": VERSION, "path": "/data/map.tif", **fields}))
    return path


def test_boxes_are_read_as_numbers(tmp_path):
    state = PageState("/data/map.tif", region=(1, 9, 2, 8), line=(0.5, 1.0, 7.5, 3.0), view=(0.0, 10.0, 10.0, 0.0),
                      restorations=(Restoration("gaussian", {"sigma": 1.5}, (0, 4, 0, 4)),))
    path = tmp_path / "state.json"
    path.write_text(state.to_json())
    read = load_state(path)
    assert read == state and isinstance(read.region[0], int) and isinstance(read.restorations[0].region[0], int)


def test_an_element_maps_making_is_read_back(tmp_path):
    making = XrfMap("/data/cube.h5::/entry/data/spectra", "7.9-8.2keV", "i0+livetime", (197, 206))
    state = PageState("/data/cube.h5::7.9-8.2keV (i0+livetime)", look={"palette": "magma"}, xrf=making)
    path = tmp_path / "state.json"
    path.write_text(state.to_json())
    read = load_state(path)
    assert read == state and read.xrf == making and read.tomography is None
    assert load_state(_write(tmp_path)).xrf is None  # a workspace of a file, or of a version that knew no maps


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"region": [1, 2, 3]}, "the region must be a list of 4 numbers"),
        ({"region": [0, 4.5, 0, 4]}, "the region must be a list of 4 whole numbers"),
        ({"line": [0, "a", 1, 2]}, "the line must be a list of 4 numbers"),
        ({"view": [True, 1, 2, 3]}, "the view must be a list of 4 numbers"),
        ({"restorations": [{"method": "gaussian", "region": [0, 1]}]}, "a region must be a list of 4 numbers"),
        ({"xrf": {"spectra": "/data/cube.h5", "line": "Cu-Ka"}}, "the xrf entry needs the spectra file, the line and the normalisation"),
        ({"xrf": {"spectra": "/data/cube.h5", "line": "Cu-Ka", "normalisation": "i0", "channels": [1.5, 4]}}, "channels must be 2 whole"),
    ],
)
def test_a_bad_box_is_refused_naming_the_file(tmp_path, fields, message):
    path = _write(tmp_path, **fields)
    with pytest.raises(InputError, match=message) as refused:
        load_state(path)
    assert "view.json" in str(refused.value)
