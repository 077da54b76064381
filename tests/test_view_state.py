"""Workspace files: the boxes they hold (region, line, view) are checked when read, with the file named."""

import json

import pytest

from asirp.errors import InputError
from asirp.view.state import FORMAT, VERSION, PageState, Restoration, load_state


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


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"region": [1, 2, 3]}, "the region must be a list of 4 numbers"),
        ({"region": [0, 4.5, 0, 4]}, "the region must be a list of 4 whole numbers"),
        ({"line": [0, "a", 1, 2]}, "the line must be a list of 4 numbers"),
        ({"view": [True, 1, 2, 3]}, "the view must be a list of 4 numbers"),
        ({"restorations": [{"method": "gaussian", "region": [0, 1]}]}, "a region must be a list of 4 numbers"),
    ],
)
def test_a_bad_box_is_refused_naming_the_file(tmp_path, fields, message):
    path = _write(tmp_path, **fields)
    with pytest.raises(InputError, match=message) as refused:
        load_state(path)
    assert "view.json" in str(refused.value)
