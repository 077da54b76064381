"""Tests of the benchmark harness (asirp.bench) and the built-in io suite."""

from __future__ import annotations

import json
import math
import os
import re
import time

import numpy as np
import pytest

import asirp
from asirp.bench import BenchContext, SuiteReport, environment, harness, register_suite, run_suite, suites
from asirp.errors import InputError, ParameterError


@register_suite("toy_test", description="toy suite of the harness tests")
def _toy_suite(ctx: BenchContext):
    calls = []
    result, seconds = ctx.timeit(lambda x: calls.append(x) or x * 2, 21)
    yield {"case": "double", "result": result, "time_s": seconds, "calls": len(calls), "quick": ctx.quick}
    yield {"case": "numpy", "psnr_db": np.float64(31.23456), "n": np.int64(7), "note": "a|b", "extra": None}
    yield {"case": "edge", "psnr_db": math.inf, "speedup": 123456.7, "seed": ctx.seed, "has_data": ctx.data is not None}


@register_suite("toy_bad_row", description="yields a nested row")
def _bad_row_suite(ctx: BenchContext):
    yield {"case": "nested", "figures": {"psnr": 1.0}}


@pytest.fixture
def report() -> SuiteReport:
    return run_suite("toy_test", quick=True, progress=False)


# -- registry --------------------------------------------------------------------------
def test_suites_lists_registered_and_builtin_suites():
    listed = suites()
    assert listed["toy_test"] == "toy suite of the harness tests"
    assert "io" in listed
    assert list(listed) == sorted(listed)


def test_unknown_suite_lists_available_ones():
    with pytest.raises(ParameterError, match=r"unknown benchmark suite 'nope'; available: .*io.*toy_test"):
        run_suite("nope")


def test_a_name_cannot_be_taken_twice_or_have_spaces():
    with pytest.raises(ParameterError, match="already registered"):

        @register_suite("toy_test", description="impostor")
        def _other(ctx):  # pragma: no cover - never registered
            yield {}

    with pytest.raises(ParameterError, match="one word"):
        register_suite("two words", description="")


# -- running ---------------------------------------------------------------------------
def test_run_suite_collects_rows_and_context(report, tmp_path):
    assert report.suite == "toy_test" and report.quick
    assert report.command == "asirp bench toy_test --quick"
    first, second, third = report.rows
    assert first["result"] == 42 and first["quick"] is True
    assert first["calls"] == 1 + harness.QUICK_REPEAT
    assert first["time_s"] > 0
    # numpy scalars become plain Python numbers.
    assert type(second["psnr_db"]) is float and type(second["n"]) is int
    assert third["seed"] == 0 and third["has_data"] is False
    assert report.duration_s > 0
    full = run_suite("toy_test", data=tmp_path, progress=False)
    assert full.rows[0]["calls"] == 1 + harness.DEFAULT_REPEAT
    assert full.rows[2]["has_data"] is True
    assert full.command == f"asirp bench toy_test --data {tmp_path}"


def test_run_suite_rejects_missing_data_folder_and_bad_rows(tmp_path):
    with pytest.raises(InputError, match="benchmark data folder"):
        run_suite("toy_test", data=tmp_path / "missing", progress=False)
    with pytest.raises(TypeError, match="toy_bad_row.*figures"):
        run_suite("toy_bad_row", progress=False)


def test_json_is_strict_and_holds_environment_and_rows(report):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    parsed = json.loads(report.to_json(), parse_constant=refuse)
    assert parsed["suite"] == "toy_test"
    assert parsed["environment"]["numpy"] == np.__version__
    assert parsed["environment"]["asirp"] == asirp.__version__
    assert parsed["rows"][0]["result"] == 42
    assert parsed["rows"][2]["psnr_db"] == "inf"
    assert parsed["command"] == "asirp bench toy_test --quick"


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table line (escaped pipes stay inside their cell)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_markdown_table_has_all_keys_and_one_line_per_row(report):
    lines = report.to_markdown().splitlines()
    assert lines[0] == "### toy_test: toy suite of the harness tests"
    assert "`asirp bench toy_test --quick`" in lines[2]
    table = [_cells(line) for line in lines if line.startswith("|")]
    header = table[0]
    expected = list(dict.fromkeys(key for row in report.rows for key in row))
    assert header == expected
    assert set(table[1]) == {"---"}
    body = table[2:]
    assert len(body) == len(report.rows)
    assert all(len(line) == len(header) for line in body)
    cells = [dict(zip(header, line, strict=True)) for line in body]
    assert cells[1]["psnr_db"] == "31.23"  # 4 significant digits
    assert cells[1]["note"] == "a\\|b"  # pipes escaped, the table keeps its columns
    assert cells[1]["extra"] == "" and cells[1]["result"] == ""  # None and missing keys: empty cells
    assert cells[2]["psnr_db"] == "inf"
    assert cells[2]["speedup"] == "123457"
    assert cells[0]["quick"] == "yes"


def test_markdown_of_empty_report_says_so():
    empty = SuiteReport("s", "d", False, "2024-01-01T00:00:00+00:00", 0.1, environment(), [], "asirp bench s")
    assert empty.to_markdown().endswith("(no rows)")


# -- timing ----------------------------------------------------------------------------
def test_timeit_returns_result_best_time_and_calls_warmup_plus_repeat():
    durations = iter([0.03, 0.02, 0.004, 0.012])  # warm-up, then three timed calls
    calls = []

    def work(value, *, scale):
        calls.append(value)
        time.sleep(next(durations))
        return value * scale

    result, best = BenchContext(quick=False).timeit(work, 3, repeat=3, scale=2)
    assert result == 6
    assert len(calls) == 4
    assert 0.004 <= best < 0.012  # the best of the timed calls; the slow warm-up is not timed


def test_timeit_rejects_bad_repeat():
    with pytest.raises(ParameterError, match="positive integer"):
        BenchContext().timeit(lambda: None, repeat=0)


def test_context_rng_is_seeded():
    assert BenchContext(seed=5).rng().random() == BenchContext(seed=5).rng().random()
    assert BenchContext(seed=5).rng().random() != BenchContext(seed=6).rng().random()


# -- saving ----------------------------------------------------------------------------
def test_save_json_is_atomic(report, tmp_path, monkeypatch):
    target = tmp_path / "results" / "toy.json"
    assert report.save_json(target) == target
    assert json.loads(target.read_text())["rows"][0]["result"] == 42
    before = target.read_text()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    other = run_suite("toy_test", progress=False)
    with pytest.raises(OSError, match="disk full"):
        other.save_json(target)
    # The previous report is intact and no temporary file is left behind.
    assert target.read_text() == before
    assert [p.name for p in target.parent.iterdir()] == ["toy.json"]
    monkeypatch.undo()
    other.save_json(target)
    assert json.loads(target.read_text())["quick"] is False


# -- environment -----------------------------------------------------------------------
def test_environment_describes_machine_and_versions():
    env = environment()
    import scipy
    import torch

    assert env["python"].count(".") == 2
    assert env["n_cpus"] >= env["cpus_available"] >= 1
    assert env["scipy"] == scipy.__version__
    # A CUDA build reports "2.11.0+cu130" where the distribution metadata says "2.11.0": the release part.
    assert env["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert env["torch_threads"] == torch.get_num_threads()
    assert env["cuda"] is torch.cuda.is_available()
    assert isinstance(env["cpu"], str) and env["cpu"]
    assert env["hostname"]
    json.dumps(env)  # JSON-able


# -- the io suite ----------------------------------------------------------------------
def test_io_suite_quick_round_trips_exactly():
    report = run_suite("io", quick=True, progress=False)
    # 2 cases x (NeXus vs 2 h5py baselines + TIFF vs tifffile) x write/read
    assert len(report.rows) == 2 * 3 * 2
    assert {row["case"] for row in report.rows} == {"frame 256x256 float32", "stack 5x128x128 float32"}
    baselines = {(row["format"], row["baseline"]) for row in report.rows}
    assert ("NeXus", "h5py") in baselines and ("TIFF", "tifffile") in baselines
    # The second NeXus baseline copies asirp's storage settings and names them.
    assert len([b for fmt, b in baselines if fmt == "NeXus" and b.startswith("h5py ")]) == 1
    for row in report.rows:
        assert row["time_s"] > 0 and row["baseline_s"] > 0
        assert row["ratio"] == pytest.approx(row["time_s"] / row["baseline_s"])
        if row["operation"] == "read":
            assert row["exact"] is True
        else:
            assert row["file_mb"] > 0 and row["baseline_file_mb"] > 0
