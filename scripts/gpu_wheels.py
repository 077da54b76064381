"""Download, here, the wheels the GPU machine lacks to run asirp's tests (it reaches no registry).

The device machine's image holds PyTorch (CUDA), numpy, scipy, scikit-image, h5py and
others (``/work/.library/device/KINDS.md``); asirp's other dependencies travel as wheels in
``.whl/`` (ignored by git), installed there by ``scripts/gpu_check.sh``. Which ones: the
closure of ``asirp[online]`` and the test tools over this environment's installed
distributions, less those the image has, each at the version installed here, for CPython
3.12 on manylinux x86-64.

Usage (from the repository root, in the project's virtual environment)::

    python scripts/gpu_wheels.py            # writes .whl/
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

#: Distributions the device image already has (KINDS.md, read 2026-11-17), normalised names.
IMAGE = set("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax
opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy
portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel
wrapt xarray xxhash yarl zipp
""".split())
#: Not needed there: the linters (tests/test_style.py skips without them) and the browser tests' driver.
LEFT_OUT = {"ruff", "mypy", "playwright", "asirp"}
#: Members of wheels asirp never imports, left out to fit the device call (xraylib's numpy interface: 17 MB).
UNUSED_MEMBERS = ("xraylib_np.",)
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (17, 24, 27, 28, 31, 34, 35)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: list[str]) -> dict[str, str]:
    """``{name: installed version}`` of ``roots`` and everything they need here (markers evaluated here)."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}
    todo = [(root, frozenset()) for root in roots]
    while todo:
        name, extras = todo.pop()
        key = _normal(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        first = key not in found
        found[key] = dist.version
        for text in dist.requires or []:
            requirement = Requirement(text)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""}))
            if wanted and (first or extras):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return found


def strip_wheel(wheel: Path) -> None:
    """Strip the shared libraries of a wheel of their symbols (hdf5plugin's plugins: 207 MB -> ~40 MB
    unpacked, 44 -> 7 MiB packed) and drop :data:`UNUSED_MEMBERS`, so that the wheels fit the device
    call's 64 MiB."""
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(wheel) as source:
        names = [name for name in source.namelist() if not name.startswith(UNUSED_MEMBERS)]
        if not any(name.endswith(".so") or ".so." in name for name in names):
            return
        source.extractall(folder)
        libraries = [str(path) for path in Path(folder).rglob("*.so*") if path.is_file()]
        subprocess.run(["strip", "--strip-unneeded", *libraries], check=False, capture_output=True)
        stripped = wheel.with_suffix(".tmp")
        with zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
            for name in names:
                target.write(Path(folder) / name, name)
    stripped.replace(wheel)


def main() -> int:
    target = Path(".whl")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    needed = closure(["asirp", "pytest-timeout"])
    needed.update(closure([req.split("[")[0] for req in ("bluesky", "event-model", "pyzmq", "dask", "distributed", "ophyd")]))
    missing = {name: version for name, version in sorted(needed.items()) if name not in IMAGE and name not in LEFT_OUT}
    for name, version in missing.items():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
                   "--implementation", "cp", "-q", "-d", str(target), f"{name}=={version}"]
        for platform in PLATFORMS:
            command += ["--platform", platform]
        command += ["--platform", "any"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        print(f"{name}=={version}: {'ok' if done.returncode == 0 else 'MISSING ' + done.stderr.strip().splitlines()[-1]}")
    if shutil.which("strip"):
        for wheel in target.glob("*.whl"):
            strip_wheel(wheel)
    size = sum(path.stat().st_size for path in target.iterdir()) / 2**20
    print(f"{len(list(target.iterdir()))} wheels, {size:.1f} MiB in {target}/ (the device call carries at most 64 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
