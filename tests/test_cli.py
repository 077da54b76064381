"""The asirp command: restore round trips with a correct NXprocess chain, info, methods, errors."""

import hashlib
import json
import subprocess
import sys
import warnings

import fabio
import h5py
import numpy as np
import pytest
import tifffile
from scipy import ndimage

from asirp.cli import main
from asirp.geometry import Geometry


def _counts(seed=0, shape=(48, 40)):
    return np.random.default_rng(seed).poisson(30, shape).astype(np.int32)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _processes(path):
    """The NXprocess groups of an output file, in sequence order: [(name, group attrs/fields)]."""
    with h5py.File(path, "r") as handle:
        entry = handle[handle.attrs["default"]]
        groups = [
            (name, group)
            for name, group in entry.items()
            if isinstance(group, h5py.Group) and group.attrs.get("NX_class") in ("NXprocess", b"NXprocess")
        ]
        out = []
        for name, group in sorted(groups, key=lambda item: int(item[1]["sequence_index"][()])):
            out.append(
                {
                    "name": name,
                    "program": group["program"][()].decode() if isinstance(group["program"][()], bytes) else group["program"][()],
                    "parameters": json.loads(_text(group["parameters"]["data"][()])),
                    "sha256": [_text(v) for v in np.atleast_1d(group["input_sha256"][()])] if "input_sha256" in group else [],
                }
            )
        data = entry[entry.attrs["default"]]
        signal = data[data.attrs["signal"]][()]
    return out, signal


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture
def tiff_input(tmp_path):
    path = tmp_path / "map.tif"
    tifffile.imwrite(path, _counts().astype(np.float32))
    return path


def test_restore_tiff_to_nexus_with_provenance(tiff_input, tmp_path, capsys):
    before = _sha256(tiff_input)
    out = tmp_path / "out.nxs"
    assert main(["-q", "restore", str(tiff_input), "-o", str(out), "-m", "gaussian", "-p", "sigma=2"]) == 0
    assert "wrote" in capsys.readouterr().out
    steps, signal = _processes(out)
    assert [s["name"].split("_", 2)[-1] for s in steps] == ["read", "gaussian"]
    assert steps[1]["parameters"] == {"sigma": 2.0}
    assert steps[0]["sha256"] == [before] and steps[0]["program"] == "asirp"
    assert signal.shape == (48, 40) and signal.dtype == np.float32
    assert _sha256(tiff_input) == before  # the input is never modified


@pytest.mark.parametrize("fmt", ["edf", "cbf"])
def test_restore_detector_formats(fmt, tmp_path):
    counts = _counts(1)
    counts[10, :] = -1  # a Pilatus-like gap row
    path = tmp_path / f"frame.{fmt}"
    image = fabio.edfimage.EdfImage(data=counts) if fmt == "edf" else fabio.cbfimage.CbfImage(data=counts)
    image.write(str(path))
    out = tmp_path / "frame.nxs"
    assert main(["-q", "restore", str(path), "-o", str(out), "-m", "gaussian", "--kind", "diffraction"]) == 0
    steps, signal = _processes(out)
    assert len(steps) == 2 and steps[0]["sha256"] == [_sha256(path)]
    with h5py.File(out, "r") as handle:
        mask = handle["entry/data/mask"][()]
    assert mask[10].all() and mask.sum() == counts.shape[1]


def test_nexus_round_trip_extends_the_chain(tiff_input, tmp_path):
    first, second = tmp_path / "a.nxs", tmp_path / "b.nxs"
    assert main(["-q", "restore", str(tiff_input), "-o", str(first), "-m", "gaussian"]) == 0
    assert main(["-q", "restore", str(first), "-o", str(second), "-m", "bicubic", "-p", "scale=2"]) == 0
    steps, signal = _processes(second)
    assert [s["name"].split("_", 2)[-1] for s in steps] == ["read", "gaussian", "read", "bicubic"]
    assert steps[2]["sha256"] == [_sha256(first)]
    assert signal.shape == (96, 80)


def test_info_and_methods(tiff_input, capsys):
    assert main(["info", str(tiff_input), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert list(info["shape"]) == [48, 40]
    assert main(["methods", "--json"]) == 0
    names = {m["name"] for m in json.loads(capsys.readouterr().out)}
    assert {"identity", "gaussian", "bicubic"} <= names
    assert main(["methods"]) == 0
    assert "sigma [px]" in capsys.readouterr().out


def test_info_lists_the_image_datasets_of_a_file_that_does_not_say_which(capsys):
    # Issue 17: `asirp info` refused an HDF5 with several image datasets instead of listing them.
    from asirp.samples import sample_path

    tooth = sample_path("tooth")  # Data Exchange: projections, darks and flats, no NeXus @default
    assert main(["info", str(tooth)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{tooth}: 3 datasets of 2 or 3 dimensions")
    assert lines[1].split() == [f"{tooth}::/exchange/data", "181x2x640", "float32"]
    assert [line.split()[0] for line in lines[2:4]] == [f"{tooth}::/exchange/data_dark", f"{tooth}::/exchange/data_white"]
    assert (
        lines[4] == f'to pick one, name it as FILE::/path, e.g. asirp info "{tooth}::/exchange/data" (restore and the other commands take the same)'
    )
    assert main(["info", str(tooth), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["dataset"] is None and info["datasets"][0] == {"path": f"{tooth}::/exchange/data", "shape": [181, 2, 640], "dtype": "float32"}
    assert main(["info", info["datasets"][0]["path"], "--json"]) == 0  # the way out works
    assert json.loads(capsys.readouterr().out)["shape"] == [181, 2, 640]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["restore", "{missing}", "-o", "{out}"], "missing.tif"),
        (["restore", "{input}", "-o", "{out}", "-m", "nope"], "unknown method 'nope'"),
        (["restore", "{input}", "-o", "{out}", "-m", "gaussian", "-p", "sigma=-3"], "sigma"),
        (["restore", "{input}", "-o", "{out}", "-m", "gaussian", "-p", "bogus=1"], "unknown parameter"),
        (["restore", "{input}", "-o", "{out}", "-p", "novalue"], "KEY=VALUE"),
        (["restore", "{input}", "-o", "{input}", "-m", "identity", "--force"], "input"),
        (["info", "{empty}"], "empty.h5"),
        (["info", "{vector}"], "vector.npy"),
    ],
)
def test_errors_are_one_line_and_write_nothing(argv, message, tiff_input, tmp_path, capsys):
    (tmp_path / "empty.h5").write_bytes(b"")
    np.save(tmp_path / "vector.npy", np.arange(10.0))
    paths = {
        "missing": tmp_path / "missing.tif",
        "out": tmp_path / "never.nxs",
        "input": tiff_input,
        "empty": tmp_path / "empty.h5",
        "vector": tmp_path / "vector.npy",
    }
    before = _sha256(tiff_input)
    code = main(["-q", *[arg.format(**paths) for arg in argv]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("asirp: error: ") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "never.nxs").exists()
    assert _sha256(tiff_input) == before


def test_existing_output_needs_force(tiff_input, tmp_path, capsys):
    out = tmp_path / "out.nxs"
    assert main(["-q", "restore", str(tiff_input), "-o", str(out), "-m", "identity"]) == 0
    stamp = _sha256(out)
    assert main(["-q", "restore", str(tiff_input), "-o", str(out), "-m", "gaussian"]) == 2
    assert "--force" in capsys.readouterr().err and _sha256(out) == stamp
    assert main(["-q", "restore", str(tiff_input), "-o", str(out), "-m", "gaussian", "--force"]) == 0


def test_auto_with_explain_and_figure(tiff_input, tmp_path, capsys):
    out, figure = tmp_path / "auto.nxs", tmp_path / "auto.png"
    assert main(["-q", "restore", str(tiff_input), "-o", str(out), "--explain", "--figure", str(figure)]) == 0
    printed = capsys.readouterr().out
    assert "chosen:" in printed and "because:" in printed
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _small_images(shape):
    """The issue-17 frame (flat Poisson counts, scaled) and a strongly blurred one (the blur fit at its cap)."""
    rng = np.random.default_rng(2)
    flat = rng.poisson(130, shape) * 0.86
    spots = np.zeros(shape)
    spots[rng.integers(0, shape[0], 4), rng.integers(0, shape[1], 4)] = 3000.0
    blurred = rng.poisson(ndimage.gaussian_filter(spots, min(shape) / 5, mode="constant") + 50)
    return {"flat": flat.astype(np.float32), "blurred": blurred.astype(np.float32)}


@pytest.mark.parametrize("shape", [(9, 11), (11, 9), (5, 13), (16, 12), (30, 40)])
def test_restore_small_non_square_images(shape, tmp_path, capsys):
    # Issue 17: a 9 x 11 frame ended in a traceback (PSF larger than the image in the blur estimate).
    methods = ["auto", "richardson_lucy", "blind_richardson_lucy", "landweber", "van_cittert", "tikhonov", "wiener"]
    for name, image in _small_images(shape).items():
        source = tmp_path / f"{name}.tif"
        tifffile.imwrite(source, image)
        for method in methods:
            out = tmp_path / f"{name}_{method}.npy"
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "blind_richardson_lucy: the blur is poorly determined", UserWarning)
                code = main(["-q", "restore", str(source), "-m", method, "-o", str(out)])
            assert code == 0, (name, method, capsys.readouterr().err)
            restored = np.load(out)
            assert restored.shape == shape and np.isfinite(restored).all(), (name, method)


@pytest.mark.parametrize("command", [["restore", "-m", "azimuthal_median"], ["restore", "-m", "symmetry"], ["info"]])
def test_poni_of_another_detector_exits_2_and_writes_nothing(command, tmp_path, capsys):
    # Issue 17: a PILATUS 1M calibration (beam near pixel 513, 487; no detector shape in the PONI)
    # on 64 x 64 frames ran, with nonsense results and a leaked "Mean of empty slice".
    frame = tmp_path / "frame.tif"
    tifffile.imwrite(frame, _counts(shape=(64, 64)))
    poni = tmp_path / "pilatus.poni"
    poni.write_text(Geometry.from_params(dist=0.2, poni1=0.0883, poni2=0.0838, wavelength=1e-10, pixel1=172e-6, pixel2=172e-6).to_text())
    out = tmp_path / "out.nxs"
    argv = [command[0], str(frame), "--poni", str(poni), *command[1:]] + (["-o", str(out)] if command[0] == "restore" else [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["-q", *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "geometry does not fit the 64x64 frame" in err and "pilatus.poni" in err and "frame.tif" in err
    assert not out.exists()


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "asirp.cli", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("asirp ")
