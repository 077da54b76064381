"""Outputs (issue 17): checked together before any work, Ctrl-C during a large write (exit
130, nothing left), stale temporaries of killed runs removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asirp.io
import numpy as np
import pytest
from asirp.errors import OutputError
from asirp.frame import Frame
from asirp.io.atomic import (
    STALE_AFTER_S,
    atomic_output,
    prepare_outputs,
    remove_stale_temporaries,
)
from asirp.io.writer import writer_for


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
