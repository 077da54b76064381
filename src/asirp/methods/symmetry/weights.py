"""Shipped and user network weights: files, checksums and loading.

The shipped weights live in ``asirp/weights/`` and their sha256 is recorded here: a
file that does not match (truncated download, edited file) is refused with a clear
error instead of silently giving wrong results. User weights (from ``asirp train
symmetry``) carry no recorded checksum; their sha256 goes into the provenance.

A weights file is a ``torch.save`` dict: ``recipe``, ``width``, ``in_channels``,
``state_dict`` and ``meta`` (training corpus, steps, held-out loss...).
"""

from __future__ import annotations

import functools
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...history import sha256_of_file

#: Shipped weights: name -> (file in asirp/weights, sha256). See docs/provenance in the README section.
SHIPPED: dict[str, tuple[str, str]] = {
    "symmetry": ("symmetry_unet.pt", "ce8e5dffe08a7edad838d6f597a498ea228399ca060ed220bf5d5d934801bd76"),
    "supervised": ("supervised_unet.pt", "132154d6ab8e658b82ab2f76d4081400eb290478db5275a984c43d3a5c1bbdb7"),
    "smae": ("smae_unet.pt", "2355afe1ae15e8ed5c28d6720368b225b8958b5fb6e7236228cbe04b7b83337e"),
}


def shipped_path(name: str) -> Path:
    """Path of the shipped weights ``name`` inside the installed package."""
    filename = SHIPPED[name][0]
    return Path(str(resources.files("asirp") / "weights" / filename))


def _read(path: Path) -> dict[str, Any]:
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError("weights file not found", str(path)) from None
    except Exception as exc:
        raise InputError(f"not a readable asirp weights file ({type(exc).__name__}: {exc})", str(path)) from None
    if not isinstance(blob, dict) or not {"recipe", "state_dict", "width", "in_channels"} <= set(blob):
        raise InputError("not an asirp weights file (missing recipe/state_dict/width/in_channels)", str(path))
    return blob


def load_weights(source: str | PathLike[str] | None, recipe: str) -> tuple[Any, str, dict[str, Any]]:
    """Network, sha256 and meta from user weights ``source`` or the shipped weights of ``recipe``.

    Raises
    ------
    InputError
        Missing, unreadable or corrupted file (checksum mismatch for shipped weights),
        or weights trained with another recipe.
    """
    if source is None:
        path = shipped_path(recipe)
        expected = SHIPPED[recipe][1]
        if not path.exists():
            raise InputError(f"the shipped {recipe} weights are missing from the installation", str(path))
        digest = sha256_of_file(path)
        if digest != expected:
            raise InputError(
                f"shipped {recipe} weights are corrupted: sha256 {digest[:12]}... differs from the recorded "
                f"{expected[:12]}...; reinstall asirp", str(path))
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError("weights file not found", str(path))
        digest = sha256_of_file(path)
    return _network(str(path), digest, recipe)


@functools.lru_cache(maxsize=8)
def _network(path: str, digest: str, recipe: str) -> tuple[Any, str, dict[str, Any]]:
    """Build the network once per file content (the digest is part of the key)."""
    from .network import build_network

    blob = _read(Path(path))
    if blob["recipe"] != recipe:
        raise InputError(f"these weights were trained with the {blob['recipe']!r} recipe, not {recipe!r}", path)
    net = build_network(recipe, int(blob["in_channels"]), int(blob["width"]))
    try:
        net.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise InputError(f"weights do not fit the network ({exc})", path) from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, digest, dict(blob.get("meta", {}))
