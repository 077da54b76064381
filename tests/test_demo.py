"""asirp demo: the report folder a new user sees first."""

import json

import h5py
import pytest

from asirp.demo import DEMO_FILES, run_demo
from asirp.errors import OutputError


def test_demo_writes_the_report_and_refuses_to_clobber_it(tmp_path):
    out = tmp_path / "report"
    demo = run_demo(out)
    for name in DEMO_FILES:
        assert (out / name).exists(), name
    for picture in out.glob("*.png"):
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    mesh, tooth = summary["cases"]
    assert mesh["method"] == demo.cases[0]["method"] and "because:" in mesh["explanation"]
    assert mesh["figures"]["PSNR raw vs truth (dB)"] > 5
    assert tooth["figures"]["FRC resolution raw, even vs odd angles (px)"] >= 2
    text = (out / "summary.md").read_text()
    assert "![ag175_compare.png](ag175_compare.png)" in text
    with h5py.File(out / "ag175_restored.nxs", "r") as handle:
        processes = [name for name in handle["entry"] if name.startswith("process_")]
    assert len(processes) >= 2  # read + the chosen method
    with pytest.raises(OutputError, match="--force"):
        run_demo(out)
    run_demo(out, force=True)
