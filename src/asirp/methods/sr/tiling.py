"""Tiled inference: apply a super-resolution network to images of any size, tile by tile.

A 3000 x 3000 detector frame or a 1488 x 744 map through a network needs several GB
of activations at once; cutting it into overlapping tiles bounds the memory, lets the
tiles of a whole stack be batched, and gives a progress bar. The overlaps are blended
with weights that fall smoothly to zero towards a tile's inner edges (zero on the
outer third of the overlap, a raised-cosine ramp on the middle third), so no seam
shows where two tiles meet; near the image border only one tile covers a pixel and
the normalisation by the summed weights leaves its value unchanged. A network whose
receptive-field radius is at most a third of the overlap gives the untiled result
exactly; networks with global (Fourier) attention differ slightly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ...errors import ParameterError
from ...progress import progress


def tile_starts(length: int, tile: int, overlap: int) -> tuple[list[int], int]:
    """Start positions and the common tile size covering ``length`` pixels.

    The number of tiles is the fewest of size at most ``tile`` overlapping by at least
    ``overlap``; the size is then shrunk to spread them evenly, so no pixel is computed
    more often than needed (a 744-pixel side with ``tile=512`` gives two tiles of 380).
    """
    if length <= tile:
        return [0], length
    count = math.ceil((length - overlap) / (tile - overlap))
    size = min(tile, math.ceil((length + (count - 1) * overlap) / count))
    stride = (length - size) / (count - 1)
    return [round(i * stride) for i in range(count)], size


def _ramp(size: int, overlap: int, scale: int, at_start: bool, at_end: bool, on: torch.device) -> torch.Tensor:
    """Blending weights along one axis of an output tile (``size`` output pixels).

    On an inner edge, the first third of the overlap gets weight 0 (the tile's own
    border, where its network saw zero padding), the middle third a raised-cosine
    rise and the last third 1; a neighbour's mirrored ramp complements it to 1. Image
    borders keep weight 1.
    """
    weights = torch.ones(size, dtype=torch.float32, device=on)
    margin = overlap // 3
    rise = (overlap - 2 * margin) * scale
    if rise <= 0:
        return weights
    ramp = torch.cat([
        torch.zeros(margin * scale, device=on),
        0.5 - 0.5 * torch.cos(math.pi * (torch.arange(rise, dtype=torch.float32, device=on) + 0.5) / rise),
        torch.ones(margin * scale, device=on),
    ])
    if not at_start:
        weights[: ramp.numel()] = ramp
    if not at_end:
        weights[-ramp.numel() :] = torch.minimum(weights[-ramp.numel() :], ramp.flip(0))
    return weights


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    scale: int,
    *,
    tile: int = 256,
    overlap: int = 16,
    batch_size: int = 4,
    desc: str = "tiles",
) -> torch.Tensor:
    """``fn`` applied to overlapping tiles of ``images`` ``(n, 1, h, w)``, blended into ``(n, 1, s·h, s·w)``.

    Parameters
    ----------
    fn:
        Maps a batch of tiles ``(b, 1, th, tw)`` to ``(b, 1, s·th, s·tw)``.
    scale:
        Upsampling factor ``s`` of ``fn``.
    tile:
        Largest tile side, input pixels; images no larger are processed whole.
    overlap:
        Overlap of neighbouring tiles, input pixels (a third of it should exceed the
        network's receptive-field radius).
    batch_size:
        Tiles per call of ``fn`` (tiles of every image of a stack are batched together).
    """
    if tile < 8 or overlap < 0 or overlap >= tile // 2:
        raise ParameterError(f"tiling needs tile >= 8 and 0 <= overlap < tile/2, got tile={tile}, overlap={overlap}")
    n, _, h, w = images.shape
    rows, th = tile_starts(h, tile, overlap)
    cols, tw = tile_starts(w, tile, overlap)
    jobs = [(i, r, c) for i in range(n) for r in rows for c in cols]
    if len(jobs) == n:  # one tile per image: no blending needed
        outputs = [fn(images[k : k + batch_size]) for k in range(0, n, batch_size)]
        return torch.cat(outputs)
    result = torch.zeros((n, 1, h * scale, w * scale), dtype=torch.float32, device=images.device)
    total = torch.zeros((1, 1, h * scale, w * scale), dtype=torch.float32, device=images.device)
    weight_of: dict[tuple[int, int], torch.Tensor] = {}
    for r in rows:
        for c in cols:
            wy = _ramp(th * scale, overlap, scale, r == rows[0], r == rows[-1], images.device)
            wx = _ramp(tw * scale, overlap, scale, c == cols[0], c == cols[-1], images.device)
            weight_of[(r, c)] = wy[:, None] * wx[None, :]
            total[..., r * scale : (r + th) * scale, c * scale : (c + tw) * scale] += weight_of[(r, c)]
    batches = [jobs[k : k + batch_size] for k in range(0, len(jobs), batch_size)]
    for batch in progress(batches, desc=desc, unit="batch"):
        tiles = torch.stack([images[i, :, r : r + th, c : c + tw] for i, r, c in batch])
        out = fn(tiles)
        for (i, r, c), piece in zip(batch, out):
            result[i, :, r * scale : (r + th) * scale, c * scale : (c + tw) * scale] += piece * weight_of[(r, c)]
    return result / total


def network_tiles(
    net: torch.nn.Module, images: torch.Tensor, scale: int, *, tile: int, overlap: int, desc: str, batch_size: int = 4
) -> torch.Tensor:
    """Run ``net`` over ``images`` ``(n, 1, h, w)`` in overlapping tiles (:func:`tiled_apply`), without gradients.

    On the CPU the network and tiles use the channels-last layout, which lets oneDNN
    pick its fastest convolutions (2-4x on x86).
    """
    from ...torch_runtime import module_on

    on = images.device
    net = module_on(net, on).eval()  # a cached network stays where it was loaded; a copy runs on `on`
    layout = torch.channels_last if on.type == "cpu" else torch.contiguous_format
    net = net.to(memory_format=layout)  # type: ignore[call-overload]  # torch's Module.to stubs omit memory_format, a documented keyword

    def run(tiles: torch.Tensor) -> torch.Tensor:
        return net(tiles.contiguous(memory_format=layout)).contiguous()

    with torch.inference_mode():
        return tiled_apply(run, images, scale, tile=tile, overlap=overlap, batch_size=batch_size, desc=desc)
