"""A command line that answers at once (issue 18): what ``import asirp`` and the parser import.

Wall-clock times are not asserted (shared machines are noisy); what makes them short
is: ``import asirp`` and building the ``asirp`` parser import none of the heavy
libraries, each command imports what it needs when it runs, and a missing input is
refused before the readers are imported. Each check runs in a fresh interpreter,
since this test session has imported everything already.
"""

import json
import subprocess
import sys

import pytest

import asirp
from asirp.cli import main

#: Libraries that take from a tenth of a second (numpy) to seconds (torch) to import.
HEAVY = (
    "torch", "pyFAI", "dask", "distributed", "bluesky", "ophyd", "matplotlib",
    "skimage", "h5py", "scipy", "fabio", "numpy", "bokeh",
)  # fmt: skip


def _fresh(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter; it prints JSON on its last stdout line."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)


def _heavy_after(code: str) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = _fresh(probe)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import asirp",
        "from asirp.cli import build_parser\nbuild_parser()",
        "from asirp.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from asirp.cli import main\ntry:\n    main(['tomo', 'recon', '--help'])\nexcept SystemExit:\n    pass",
    ],
    ids=["import", "parser", "help", "tomo-help"],
)
def test_startup_imports_nothing_heavy(code):
    assert _heavy_after(code) == []


def test_methods_listing_needs_no_torch():
    """``asirp methods`` reads the parameter models only: no network module, so no torch."""
    assert "torch" not in _heavy_after("from asirp.cli import main\nmain(['methods', '--json'])")


def test_missing_input_refused_before_the_readers():
    code = (
        "import sys\nfrom asirp.cli import main\n"
        "status = main(['restore', 'nosuchfile.tif'])\n"
        "print(status, file=sys.stdout)"
    )
    probe = _fresh(f"{code}\nimport json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert probe.returncode == 0, probe.stderr
    status, heavy = probe.stdout.splitlines()[-2:]
    assert int(status) == 2
    assert json.loads(heavy) == []
    assert probe.stderr.splitlines() == ["asirp: error: nosuchfile.tif: no such file"]


@pytest.mark.parametrize("command", [["restore", "nosuchfile.tif"], ["info", "nosuchfile.tif"]])
def test_missing_input_is_one_line_and_status_2(command, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom asirp.cli import main\nsys.exit(main())", *command],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["asirp: error: nosuchfile.tif: no such file"]
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_methods_lists_every_method_of_every_module(capsys):
    """The lazily found repertoire equals the one found by importing every module of asirp.methods.

    A method family that names its method modules (``METHOD_MODULES``) must not leave
    one out; the fresh interpreter sees only what ``asirp methods`` loads.
    """
    code = (
        "import importlib, json, pkgutil\nfrom asirp.methods import base\n"
        "package = importlib.import_module('asirp.methods')  # asirp.methods is the listing function\n"
        "for module in pkgutil.walk_packages(package.__path__, 'asirp.methods.'):\n"
        "    importlib.import_module(module.name)\n"
        "print(json.dumps(sorted(base._REGISTRY)))"
    )
    done = _fresh(code)
    assert done.returncode == 0, done.stderr
    every = json.loads(done.stdout.splitlines()[-1])

    listed = _fresh("from asirp.cli import main\nmain(['methods', '--json'])")
    assert listed.returncode == 0, listed.stderr
    described = json.loads(listed.stdout)
    assert sorted(method["name"] for method in described) == every

    assert main(["methods"]) == 0  # the text listing: every method, each with its parameters
    blocks: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith(" "):
            blocks[line.split()[0]] = []
        else:
            blocks[list(blocks)[-1]].append(line.strip())
    assert sorted(blocks) == every
    for method in described:
        for name in method["parameters"]:
            assert any(line.startswith((f"{name} =", f"{name} [")) for line in blocks[method["name"]]), (method["name"], name)


def test_public_names_still_resolve():
    """Every name of ``asirp.__all__`` works after the lazy imports, and the ones that
    share a name with a submodule (``asirp.methods``, ``asirp.tomo.reconstruct``) stay
    the functions once that submodule is loaded."""
    code = (
        "import json, asirp\n"
        "missing = [name for name in asirp.__all__ if getattr(asirp, name, None) is None]\n"
        "import asirp.methods.base, asirp.tomo.pipeline\n"
        "from asirp import tomo\n"
        "from asirp.tomo import reconstruct\n"
        "print(json.dumps({'missing': missing, 'version': asirp.__version__,\n"
        "                  'methods': callable(asirp.methods) and isinstance(asirp.methods(), list),\n"
        "                  'tomo': [callable(tomo.reconstruct), reconstruct is tomo.reconstruct],\n"
        "                  'tomo_all': [name for name in tomo.__all__ if getattr(tomo, name, None) is None]}))"
    )
    done = _fresh(code)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result == {"missing": [], "version": asirp.__version__, "methods": True, "tomo": [True, True], "tomo_all": []}
