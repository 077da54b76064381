"""Network weight files: the shipped FCA-SR weights (checksummed) and user files.

asirp never downloads weights: a beamline computer is often offline, and a result
must say which weights made it. The FCA-SR weights trained by ``asirp train sr`` on
X-ray-like synthetic data ship in ``asirp/weights/`` and their sha256 digests are
recorded here (:data:`SHIPPED_SHA256`); a file that does not match (truncated
download, edited file, a fine-tuned file copied over it) is refused with a clear
error instead of silently giving other results. Every method records the digest of
the weights it used in the provenance (``HistoryStep.weights_sha256``).

File format of FCA-SR weights (``torch.save`` of a plain dict, loaded with
``weights_only=True``, so a weights file cannot run code)::

    {"format": "asirp-fca-sr", "version": 1,
     "arch": {"scale": 2, "channels": 32, "groups": 2, "blocks": 2},
     "state_dict": {...}, "training": {... how it was trained ...}}
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ...errors import InputError
from ...history import sha256_of_file
from .fca import FCANet

FORMAT = "asirp-fca-sr"
FORMAT_VERSION = 1

#: sha256 of the weight files shipped in ``asirp/weights/``, by scale.
SHIPPED_SHA256: dict[int, str] = {
    2: "1f6f58b5989bf8d6c1e9f82d258fa20609d992f0bad7656937c3082cc760e64f",
    4: "d78c56475f0ef5ff4330f64d7cca063a573be98b5fa3174b0f376a25c03460ae",
}


def shipped_path(scale: int) -> Path:
    """Path of the shipped FCA-SR weights for ``scale`` (``asirp/weights/fca_sr_x{scale}.pt``)."""
    return Path(str(resources.files("asirp") / "weights" / f"fca_sr_x{scale}.pt"))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load`` a weights or checkpoint file safely; an :class:`InputError` naming it otherwise."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("weights file not found", file)
    try:
        content = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, not a torch file, pickled code: all mean "bad file"
        raise InputError(f"cannot read network weights ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})", file) from None
    if not isinstance(content, dict):
        raise InputError(f"network weights must be a dict of tensors, the file holds a {type(content).__name__}", file)
    return content


def load_fca(path: str | Path, *, scale: int, expected_sha256: str | None = None) -> tuple[FCANet, str, dict[str, Any]]:
    """Load FCA-SR weights for ``scale``; returns the network (eval mode), the file's sha256 and its training record.

    Raises
    ------
    InputError
        The file is missing, corrupted (digest differs from ``expected_sha256``, or
        unreadable), not an FCA-SR weights file, for another scale, or its tensors do
        not fit the architecture it declares.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("weights file not found", file)
    digest = sha256_of_file(file)
    if expected_sha256 is not None and digest != expected_sha256:
        raise InputError(
            f"the shipped FCA-SR x{scale} weights are corrupted (sha256 {digest[:12]}... instead of "
            f"{expected_sha256[:12]}...); reinstall asirp (pip install --force-reinstall asirp)",
            file,
        )
    content = read_checkpoint(file)
    if content.get("format") != FORMAT or "state_dict" not in content or "arch" not in content:
        raise InputError(
            f"not an asirp FCA-SR weights file (expected format {FORMAT!r} with 'arch' and 'state_dict'; "
            "write one with 'asirp train sr')",
            file,
        )
    arch = content["arch"]
    if int(arch.get("scale", 0)) != scale:
        raise InputError(f"these FCA-SR weights are for x{arch.get('scale')}, not x{scale}", file)
    try:
        net = FCANet.from_config(arch)
        net.load_state_dict(content["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"FCA-SR weights do not fit the architecture {arch}: {str(exc).splitlines()[0][:300]}", file) from None
    return net.eval(), digest, dict(content.get("training", {}))


def fca_payload(net: FCANet, training: dict[str, Any]) -> dict[str, Any]:
    """The dict a weights file holds for ``net`` (see the module docstring)."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arch": dict(net.config),
        "state_dict": {key: value.detach().cpu().contiguous() for key, value in net.state_dict().items()},
        "training": training,
    }


def state_dict_from_user_file(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of a BasicSR/Real-ESRGAN ``.pth`` (under ``params_ema``, ``params`` or at the top) and its sha256."""
    file = Path(path).expanduser()
    content = read_checkpoint(file)
    for key in ("params_ema", "params", "state_dict"):
        if isinstance(content.get(key), dict):
            content = content[key]
            break
    tensors = {key.removeprefix("module."): value for key, value in content.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise InputError("the weights file holds no tensors (expected a state dict, or one under 'params_ema'/'params')", file)
    return tensors, sha256_of_file(file)
