"""Outputs of the commands (issue 17): every output checked before any work, --force for all
of them, Ctrl-C during a large write (exit 130, nothing left), stale temporaries of killed
runs removed by the next run into the folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import asirp.io
from asirp.cli import main
from asirp.errors import OutputError
from asirp.frame import Frame
from asirp.io.atomic import (
    STALE_AFTER_S,
    atomic_output,
    prepare_outputs,
    remove_stale_temporaries,
)
from asirp.io.writer import writer_for

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.tif"
    tifffile.imwrite(path, np.random.default_rng(0).poisson(20, (32, 24)).astype(np.float32))
    return path


def _restore(good: Path, out: Path, *extra: str) -> int:
    return main(["-q", "restore", str(good), "-m", "gaussian", "-o", str(out), *extra])


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith("asirp: error: ") and "\n" not in err, err
    assert all(word in err for word in words), err


# -- every output checked before any work ------------------------------------------------------


def test_a_bad_figure_path_writes_no_output_and_a_rerun_works(good, tmp_path, capsys):
    # Issue 17: exit 2 after out.nxs was written; the rerun then failed with "exists".
    out = tmp_path / "out.nxs"
    assert _restore(good, out, "--figure", str(tmp_path / "nodir" / "fig.png")) == 2
    _one_line_error(capsys, "nodir", "does not exist")
    assert not out.exists()
    assert _restore(good, out, "--figure", str(tmp_path / "fig.png")) == 0
    assert (tmp_path / "fig.png").read_bytes()[:8] == PNG


def test_an_existing_figure_needs_force_like_the_output(good, tmp_path, capsys):
    out, figure = tmp_path / "out.nxs", tmp_path / "fig.png"
    figure.write_bytes(b"an older picture")
    assert _restore(good, out, "--figure", str(figure)) == 2
    _one_line_error(capsys, "fig.png", "exists", "--force")
    assert figure.read_bytes() == b"an older picture" and not out.exists()
    assert _restore(good, out, "--figure", str(figure), "--force") == 0
    assert figure.read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    ("output", "figure", "words"),
    [
        ("out.xyz", None, ["unknown output format '.xyz'"]),
        ("same.png", "same.png", ["given for two outputs"]),
        ("good.tif", None, ["would overwrite the input file"]),
        ("afile/out.nxs", None, ["does not exist"]),
    ],
)
def test_bad_outputs_are_refused_before_reading(good, tmp_path, capsys, monkeypatch, output, figure, words):
    (tmp_path / "afile").write_text("a file, not a folder")

    def no_reading(*args, **kwargs):
        raise AssertionError("the input was read before the outputs were checked")

    monkeypatch.setattr(asirp.io, "open", no_reading)
    extra = ["--figure", str(tmp_path / figure), "--force"] if figure else ["--force"]
    assert _restore(good, tmp_path / output, *extra) == 2
    _one_line_error(capsys, *words)


def test_prepare_outputs_checks_files_and_folders(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        prepare_outputs(folders=[tmp_path / "afile" / "sub"], force=False)
    # A folder to be created: its files need no check yet; an existing one's files do.
    assert prepare_outputs([tmp_path / "new" / "a.png"], [tmp_path / "new"], force=False) == []
    with pytest.raises(OutputError, match="does not exist"):
        prepare_outputs([tmp_path / "new" / "a.png"], force=False)
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(OutputError, match="exists"):
        prepare_outputs([tmp_path / "a.png"], [tmp_path], force=False)
    prepare_outputs([tmp_path / "a.png"], [tmp_path], force=True)


def test_demo_and_train_check_their_outputs_first(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["-q", "demo", "--out", str(tmp_path / "afile")]) == 2
    _one_line_error(capsys, "afile", "is a file, not a folder")
    pytest.importorskip("torch")
    assert main(["-q", "train", "sr", "--out", str(tmp_path / "nodir" / "w.pt"), "--steps", "1"]) == 2
    _one_line_error(capsys, "nodir", "does not exist")


# -- Ctrl-C and killed runs ---------------------------------------------------------------------


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part"))


def _start_large_write(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """``asirp restore`` of a ~100 MB stack to NeXus, returned once its temporary output exists."""
    source = tmp_path / "stack.npy"
    np.save(source, np.random.default_rng(1).integers(0, 1000, (24, 1024, 1024), dtype=np.uint16))
    out = tmp_path / "out.nxs"
    process = subprocess.Popen([sys.executable, "-m", "asirp.cli", "-q", "restore", str(source), "-m", "identity",
                                "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _temporaries(tmp_path):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the output was never started"
        time.sleep(0.01)
    time.sleep(0.2)  # inside the compression of the data
    return process, out


def test_ctrl_c_during_a_large_write_exits_130_within_a_second_and_leaves_nothing(tmp_path):
    # Issue 17: SIGINT was ignored for ~17 s (raised inside an h5py finaliser) and the run exited 0.
    process, out = _start_large_write(tmp_path)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    waited = time.monotonic() - sent
    assert process.returncode == 130 and "interrupted" in err, err
    assert waited < 1.5, f"{waited:.2f} s from Ctrl-C to exit"
    assert not out.exists() and _temporaries(tmp_path) == []


def test_a_killed_run_leaves_a_temporary_that_a_later_run_removes(tmp_path, good, capsys):
    process, out = _start_large_write(tmp_path)
    process.kill()  # kill -9: no clean-up is possible
    process.communicate()
    [left] = _temporaries(tmp_path)
    assert not out.exists()
    # A fresh temporary may belong to a run still writing: it stays.
    assert _restore(good, tmp_path / "first.nxs") == 0
    assert left.exists() and "removed" not in capsys.readouterr().err
    old = time.time() - STALE_AFTER_S - 60
    os.utime(left, (old, old))
    assert _restore(good, tmp_path / "second.nxs") == 0
    notice = capsys.readouterr().err.strip()
    assert not left.exists()
    assert notice == f"asirp: removed 1 unfinished temporary file(s) of an interrupted earlier run in {tmp_path}: {left.name}"


def test_only_asirps_own_stale_temporaries_are_removed(tmp_path):
    old = time.time() - 2 * STALE_AFTER_S
    names = [".scan.nxs.0123456789ab.part", ".scan.nxs.0123456789ab.part.keep", ".scan.nxs.part",
             "scan.nxs.0123456789ab.part", ".scan.nxs.0123456789AB.part", ".scan.nxs.01234.part"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / ".dir.0123456789ab.part").mkdir()
    os.utime(tmp_path / ".dir.0123456789ab.part", (old, old))
    assert remove_stale_temporaries(tmp_path) == [tmp_path / names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names[1:], ".dir.0123456789ab.part"])


@pytest.mark.parametrize("suffix", [".nxs", ".tif", ".npy"])
def test_an_interrupt_in_the_writer_removes_the_temporary(tmp_path, suffix):
    frame = Frame(np.ones((3, 8, 8), dtype=np.float32))
    out = tmp_path / f"out{suffix}"
    with pytest.raises(KeyboardInterrupt), atomic_output(out, force=False, inputs=()) as temporary:
        signal.raise_signal(signal.SIGINT)  # deferred: the write goes on to its next check
        writer_for(out)(frame, temporary)
    assert not out.exists() and _temporaries(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    asirp.io.save(frame, out)  # the next write is not affected
    assert asirp.io.open(out).shape == (3, 8, 8)


def test_run_checks_its_output_folder_first_and_clears_stale_temporaries(tmp_path, good, capsys):
    (tmp_path / "p.toml").write_text("[restore]\nmethod = 'gaussian'\n")
    (tmp_path / "afile").write_text("x")
    assert main(["run", "-q", str(tmp_path / "p.toml"), str(good), "-o", str(tmp_path / "afile" / "out")]) == 2
    _one_line_error(capsys, "afile", "is a file, not a folder")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".latest_good.png.0123456789ab.part"  # a snapshot of a killed run
    stale.write_bytes(b"x")
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(stale, (old, old))
    assert main(["run", "-q", str(tmp_path / "p.toml"), str(good), "-o", str(out), "--backend", "local"]) == 0
    assert not stale.exists() and f"in {out}: {stale.name}" in capsys.readouterr().err
    assert (out / "good.nxs").exists()
