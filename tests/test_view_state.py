"""Workspace files: the boxes they hold (region, line, view) are checked when read, with the file named."""

import json

import pytest

from asirp.errors import InputError
from asirp.view.state import FORMAT, VERSION, PageState, Restoration, Run, XrfMap, load_state


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


def test_every_restoration_made_is_read_back_in_order(tmp_path):
    runs = (
        Run("gaussian", {"sigma": 1.5}, index=1),
        Run("auto", {}, index=3, region=(0, 8, 2, 10), decision={"method": "gaussian", "parameters": {"sigma": 0.8}}),
        Run("wiener", {"nsr": 0.1}, index=2, images=(0, 4)),
    )
    state = PageState("/data/stack.tif", index=1, runs=runs, sha256="ab" * 32)
    path = tmp_path / "state.json"
    path.write_text(state.to_json())
    read = load_state(path)
    assert read == state and read.runs[2].images == (0, 4) and read.runs[1].region == (0, 8, 2, 10) and read.skipped == ()
    assert "skipped" not in json.loads(path.read_text())
    old = load_state(_write(tmp_path, restorations=[{"method": "gaussian", "parameters": {"sigma": 1.5}}]))
    assert old.runs is None and old.sha256 is None and old.restorations == (Restoration("gaussian", {"sigma": 1.5}),)


def test_an_unreadable_run_is_skipped_with_a_line_and_the_others_kept(tmp_path):
    entries = [
        {"method": "gaussian", "parameters": {"sigma": 1.0}, "index": 0},
        {"parameters": {}},
        {"method": "gaussian", "index": -1},
        {"method": "wiener", "images": [3, 1]},
        {"method": "gaussian", "region": [0, 1]},
        {"method": "gaussian", "index": 2, "images": None},
    ]
    read = load_state(_write(tmp_path, runs=entries))
    assert read.runs == (Run("gaussian", {"sigma": 1.0}), Run("gaussian", {}, index=2))
    assert read.skipped == (
        "restoration 2: no method; skipped",
        "restoration 3 (gaussian): image index -1 is not a whole number; skipped",
        "restoration 4 (wiener): images [3, 1] is not a range (first, end) of whole numbers; skipped",
        "restoration 5 (gaussian): its region is not 4 whole numbers; skipped",
    )
    with pytest.raises(InputError, match="runs must be a list"):
        load_state(_write(tmp_path, runs={"method": "gaussian"}))
