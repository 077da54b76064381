"""The ``gpu`` benchmark suite (issue 18): its code path on the CPU, and a clean skip without CUDA."""

from __future__ import annotations

import json

import pytest

from asirp.bench import run_suite

torch = pytest.importorskip("torch")

PARTS = {"rl_reference", "rl_vs_numpy", "agreement", "symmetry", "stream"}


def test_gpu_suite_runs_its_code_path_on_the_cpu_in_quick_mode(tmp_path):
    report = run_suite("gpu", quick=True, device="cpu", progress=False)
    assert report.command == "asirp bench gpu --quick --device cpu"
    rows = report.rows
    assert {row["part"] for row in rows} == PARTS
    assert all(row["device"] == "cpu" for row in rows)
    reference = next(row for row in rows if row["part"] == "rl_reference")
    assert reference["asirp_s"] > 0 and reference["reference_s"] > 0
    assert reference["ratio"] == pytest.approx(reference["asirp_s"] / reference["reference_s"])
    versus = next(row for row in rows if row["part"] == "rl_vs_numpy")
    assert versus["max_relative_difference"] < 1e-4 and versus["speedup"] > 0
    agreement = {row["case"]: row for row in rows if row["part"] == "agreement"}
    assert set(agreement) == {"symmetry", "noise2self", "supervised", "smae_halves", "zssr", "fca_sr", "rrdb_sr",
                              "richardson_lucy", "blind_richardson_lucy", "landweber", "van_cittert"}
    # CPU against CPU: the same computation, so exactly the same result.
    assert all(row["max_relative_difference"] == 0 and row["within"] and row["dtype"] == "float32" for row in agreement.values())
    stream = {row["case"].split(",")[0]: row for row in rows if row["part"] == "stream"}
    assert set(stream) == {"wiener", "richardson_lucy", "symmetry", "fca_sr"}
    assert all(row["frames_per_s"] > 0 for row in stream.values())
    path = report.save_json(tmp_path / "gpu.json")
    assert json.loads(path.read_text())["rows"][0]["part"] == "rl_reference"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip happens on a machine without a CUDA GPU")
def test_gpu_suite_skips_cleanly_without_cuda():
    report = run_suite("gpu", quick=True, progress=False)
    assert len(report.rows) == 1
    row = report.rows[0]
    assert row["part"] == "skipped" and "no CUDA GPU" in row["case"] and "--device cpu" in row["case"]
    assert "skipped" in report.to_markdown()
