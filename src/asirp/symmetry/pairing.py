"""Pairing: every pixel's partner measurements under the symmetry operations that hold.

For each operation the partner position is sub-pixel (off-centre beams, tilt), so
the partner value is a bilinear interpolation of the four surrounding pixels. The
weights are written out here (not taken from ``scipy.ndimage.map_coordinates``)
because the statistics need them: a partner is usable only where enough of its
neighbours were measured (gaps, beamstop, hot pixels are excluded and the weights
renormalised), and its Poisson variance is ``sum(w_k^2 x_k)``. Zero counts are
measurements like any other; only the validity mask excludes pixels.

With a geometry, counts are compared per unit solid angle: the symmetry holds for the
scattered intensity, while a pixel's counts also scale with its solid angle, which a
tilted detector or an off-centre beam makes differ between partners. Each partner
value is therefore multiplied by ``Ω(pixel) / Ω(partner)`` (pyFAI
``solidAngleArray``), a few per cent here, but visible at high counts.

A smooth detector response ``F`` (polarisation, flat field, absorption; fitted from the
data by :func:`asirp.symmetry.fit_response`) is applied the same way when given to
:meth:`Pairing.build`: partner values and variances are further multiplied by
``F(pixel) / F(partner)`` (``F`` bilinear at the partner position), outside the cached
maps, so one cached map serves every response.

``exclusion_px`` makes a partner invalid when it lies within that Chebyshev distance
of the pixel itself. A network whose receptive field has radius ``R`` then never sees
a pixel's own measurement when computing that pixel's output, if ``exclusion_px >=
R + 1`` (the partner interpolation reaches one pixel further); see
:mod:`asirp.methods.symmetry.network`.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from .operations import Operation
from .plane import ScatteringPlane

#: Smallest total weight of measured neighbours for an interpolated partner to count.
MIN_WEIGHT = 0.5
#: Partner maps kept per detector geometry (a stream of frames reuses them).
_CACHE_SIZE = 32
_CACHE: weakref.WeakKeyDictionary[Geometry, dict[tuple, PartnerMap]] = weakref.WeakKeyDictionary()


#: Bytes of partner maps of flat planes (no geometry) kept, newest first out last.
_FLAT_CACHE_BYTES = 512 * 2**20
_FLAT_CACHE: OrderedDict[tuple, PartnerMap] = OrderedDict()
_FLAT_LOCK = threading.Lock()


def partner_map(plane: ScatteringPlane, op: Operation, exclusion_px: float = 0.0) -> PartnerMap:
    """:meth:`PartnerMap.build`, cached: per geometry (solving a tilted geometry is the costly part), and for
    flat planes by shape, centre and operation (one decision on a 1 Mpx frame without a PONI pairs the same
    plane ~100 times: the symmetry scores, the response fit, the fine-tuning, the final run; ~45 ms per map)."""
    if plane.u_maps is not None:
        return PartnerMap.build(plane, op, exclusion_px)
    if plane.geometry is None:
        return _flat_partner_map(plane, op, exclusion_px)
    per_geometry = _CACHE.setdefault(plane.geometry, {})
    key = (plane.shape, tuple(np.round(op.array, 9).ravel()), float(exclusion_px))
    if key not in per_geometry:
        if len(per_geometry) >= _CACHE_SIZE:
            per_geometry.pop(next(iter(per_geometry)))
        per_geometry[key] = PartnerMap.build(plane, op, exclusion_px)
    return per_geometry[key]


def _flat_partner_map(plane: ScatteringPlane, op: Operation, exclusion_px: float) -> PartnerMap:
    """:func:`partner_map` of a flat plane, from a least-recently-used cache bounded by :data:`_FLAT_CACHE_BYTES`."""
    key = (plane.shape, plane.center, tuple(np.round(op.array, 9).ravel()), float(exclusion_px))
    with _FLAT_LOCK:
        if key in _FLAT_CACHE:
            _FLAT_CACHE.move_to_end(key)
            return _FLAT_CACHE[key]
    built = PartnerMap.build(plane, op, exclusion_px)
    with _FLAT_LOCK:
        _FLAT_CACHE[key] = built
        while len(_FLAT_CACHE) > 1 and sum(m.nbytes for m in _FLAT_CACHE.values()) > _FLAT_CACHE_BYTES:
            _FLAT_CACHE.popitem(last=False)
    return built


@dataclass(frozen=True, eq=False)
class PartnerMap:
    """Where the partners of every pixel lie under one operation (independent of the data).

    Attributes
    ----------
    operation:
        The operation.
    base:
        Flat index of the top-left interpolation neighbour, int64 ``(ny, nx)``.
    weights:
        Bilinear weights of the four neighbours (top-left, below, right, diagonal),
        float32 ``(4, ny, nx)``.
    found:
        The partner exists (on the detector, not within ``exclusion_px``).
    ratio:
        Factor applied to partner values: ``Ω(pixel) / Ω(partner)`` (solid angle),
        times ``F(pixel) / F(partner)`` after :meth:`with_response`; None when there
        is neither (no geometry: an untilted detector centred on the beam is symmetric).
    py, px:
        Partner position in array index coordinates, float32 ``(ny, nx)`` (clamped to
        the detector; 0 where ``found`` is False).
    """

    operation: Operation
    base: np.ndarray
    weights: np.ndarray
    found: np.ndarray
    ratio: np.ndarray | None = None
    py: np.ndarray | None = None
    px: np.ndarray | None = None

    @classmethod
    def build(cls, plane: ScatteringPlane, op: Operation, exclusion_px: float = 0.0) -> PartnerMap:
        ny, nx = plane.shape
        py, px, found = plane.partner_positions(op)
        # A position that is not finite (diverged solve, geometry without u there) is not
        # found; replace it before any cast to an index.
        finite = np.isfinite(py) & np.isfinite(px)
        found = np.asarray(found, bool) & finite
        py = np.clip(np.where(finite, py, 0.0), 0.0, ny - 1.0)
        px = np.clip(np.where(finite, px, 0.0), 0.0, nx - 1.0)
        y0 = np.minimum(np.floor(py), ny - 2).astype(np.int64)
        x0 = np.minimum(np.floor(px), nx - 2).astype(np.int64)
        if exclusion_px > 0:
            yy, xx = np.indices((ny, nx))
            found = found & (np.maximum(np.abs(py - yy), np.abs(px - xx)) > exclusion_px)
        fy, fx = (py - y0).astype(np.float32), (px - x0).astype(np.float32)
        weights = np.stack([(1 - fy) * (1 - fx), fy * (1 - fx), (1 - fy) * fx, fy * fx])
        ratio = None
        if plane.geometry is not None:
            omega = np.asarray(plane.geometry.integrator.solidAngleArray(plane.shape), np.float32)
            flat = omega.ravel()
            base = y0 * nx + x0
            there = sum(w * np.take(flat, base + offset) for offset, w in zip((0, nx, 1, nx + 1), weights))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = omega / there
            ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0).astype(np.float32)
        return cls(op, y0 * nx + x0, weights, found, ratio, py.astype(np.float32), px.astype(np.float32))

    @property
    def nbytes(self) -> int:
        """Memory held by the map's arrays (bytes)."""
        arrays = (self.base, self.weights, self.found, self.ratio, self.py, self.px)
        return sum(a.nbytes for a in arrays if a is not None)

    def with_response(self, response: np.ndarray) -> PartnerMap:
        """This map with partner values further scaled by ``F(pixel) / F(partner)``.

        ``response`` is the relative detector response ``F`` (positive, finite,
        the image shape), sampled bilinearly at the partner position.
        """
        nx = response.shape[1]
        flat = np.asarray(response, np.float32).ravel()
        there = sum(w * np.take(flat, self.base + offset) for offset, w in zip((0, nx, 1, nx + 1), self.weights))
        factor = np.where(self.found, response / np.where(self.found, there, 1.0), 1.0).astype(np.float32)
        ratio = factor if self.ratio is None else (self.ratio * factor).astype(np.float32)
        return dataclasses.replace(self, ratio=ratio)

    def sample(self, data: np.ndarray, valid: np.ndarray,
               region: tuple[slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Partner value, its Poisson variance estimate, and whether it is usable.

        Parameters
        ----------
        data, valid:
            One image ``(ny, nx)`` (counts) and its validity mask.
        region:
            Only the pixels of this ``(rows, columns)`` window (their partners may lie
            anywhere); the outputs then have the window's shape.

        Returns
        -------
        value:
            ``sum(w_k x_k) / sum(w_k)`` over measured neighbours (float32).
        variance:
            ``sum(w_k^2 x_k) / sum(w_k)^2``: an unbiased estimate of the Poisson
            variance of ``value`` (float32).
        ok:
            The partner exists and its measured neighbours weigh at least
            :data:`MIN_WEIGHT`.
        """
        flat = np.asarray(data, dtype=np.float32).ravel()
        vflat = np.asarray(valid, dtype=np.float32).ravel()
        return self._sample_flat(flat, vflat, data.shape[1], region)

    def _sample_flat(self, flat: np.ndarray, vflat: np.ndarray, nx: int,
                     region: tuple[slice, slice] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`sample` of an image already flattened to float32 (``vflat``: validity as 0/1)."""
        base, weights, found, ratio = self.base, self.weights, self.found, self.ratio
        if region is not None:
            base, weights, found = base[region], weights[(slice(None), *region)], found[region]
            ratio = None if ratio is None else ratio[region]
        value = np.zeros(base.shape, np.float32)
        var = np.zeros(base.shape, np.float32)
        weight = np.zeros(base.shape, np.float32)
        for offset, w in zip((0, nx, 1, nx + 1), weights):
            index = base + offset
            w = w * np.take(vflat, index)
            x = np.take(flat, index)
            value += w * x
            var += w * w * x
            weight += w
        ok = found & (weight >= MIN_WEIGHT)
        safe = np.where(ok, weight, 1.0)
        if ratio is not None:
            value, var = value * ratio, var * ratio * ratio
        return np.where(ok, value / safe, 0.0), np.where(ok, var / safe**2, 0.0), ok


@dataclass(frozen=True, eq=False)
class Pairing:
    """The partner maps of a set of operations on one detector plane.

    Examples
    --------
    >>> import numpy as np
    >>> from asirp.symmetry import Pairing, ScatteringPlane, INVERSION
    >>> plane = ScatteringPlane.flat((4, 4), (2.0, 2.0))
    >>> pairing = Pairing.build(plane, [INVERSION])
    >>> data = np.arange(16.0).reshape(4, 4)
    >>> p = pairing.partners(data, np.ones((4, 4), bool))
    >>> p.values[0].tolist()[0]
    [15.0, 14.0, 13.0, 12.0]
    """

    plane: ScatteringPlane
    maps: tuple[PartnerMap, ...]
    exclusion_px: float = 0.0
    response: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def build(cls, plane: ScatteringPlane, operations: list[Operation], exclusion_px: float = 0.0,
              response: np.ndarray | None = None) -> Pairing:
        """Partner maps of ``operations`` (cached per geometry).

        ``response``: the relative detector response ``F`` of the frame, ``(ny, nx)``
        (e.g. :attr:`ResponseFit.field <asirp.symmetry.ResponseFit.field>`); partner
        values and variances are then multiplied by ``F(pixel) / F(partner)`` in
        addition to the solid-angle ratio.
        """
        maps = tuple(partner_map(plane, op, exclusion_px) for op in operations)
        if response is not None:
            response = check_response(response, plane.shape)
            maps = tuple(m.with_response(response) for m in maps)
        return cls(plane, maps, float(exclusion_px), response)

    @property
    def operations(self) -> list[Operation]:
        return [m.operation for m in self.maps]

    def partners(self, data: np.ndarray, valid: np.ndarray, region: tuple[slice, slice] | None = None) -> Partners:
        """Sample the partners of every pixel of one image (or of a ``region`` of it)."""
        # Flattened once for all operations: a crop of a large frame costs its own pixels, not the frame's.
        flat = np.asarray(data, dtype=np.float32).ravel()
        vflat = np.asarray(valid, dtype=np.float32).ravel()
        sampled = [m._sample_flat(flat, vflat, data.shape[1], region) for m in self.maps]
        if not sampled:
            empty = np.zeros((0, *(data[region].shape if region is not None else data.shape)), np.float32)
            return Partners(empty, empty, empty.astype(bool))
        return Partners(
            np.stack([s[0] for s in sampled]), np.stack([s[1] for s in sampled]), np.stack([s[2] for s in sampled])
        )


@dataclass(frozen=True, eq=False)
class PartnerMean:
    """The mean of every pixel's usable partners, for many images under one mask (:meth:`Partners.mean` of
    :meth:`Pairing.partners`, without the variances).

    Which partners are usable, and the weights of their interpolation neighbours
    renormalised over the measured ones (times the solid-angle and response ratio),
    depend on the mask only: they are computed once here, so each image or crop costs
    one gather and one multiply-add per neighbour. Fine-tuning draws ~500 crops of one
    frame: 6 -> 3.5 ms per 128² crop under seven operations. Memory: 16 bytes per
    pixel and operation (~110 MB for 1 Mpx and seven operations).
    """

    pairing: Pairing
    weights: tuple[np.ndarray, ...]  # per map (4, ny, nx) float32; 0 where the partner is not usable
    count: np.ndarray  # (ny, nx) float32: usable partners per pixel

    @classmethod
    def of(cls, pairing: Pairing, valid: np.ndarray) -> PartnerMean:
        valid = np.asarray(valid, bool)
        ny, nx = valid.shape
        vflat = valid.astype(np.float32).ravel()
        weights, count = [], np.zeros((ny, nx), np.float32)
        for m in pairing.maps:
            measured = np.stack([w * np.take(vflat, m.base + offset) for offset, w in zip((0, nx, 1, nx + 1), m.weights)])
            total = measured.sum(axis=0)
            ok = m.found & (total >= MIN_WEIGHT)
            scale = np.where(ok, 1.0 / np.where(ok, total, 1.0), 0.0).astype(np.float32)
            if m.ratio is not None:
                scale *= m.ratio
            weights.append(measured * scale)
            count += ok
        return cls(pairing, tuple(weights), count)

    def __call__(self, data: np.ndarray, region: tuple[slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean of the usable partners and their number per pixel of ``data`` (or of its ``region``); 0 without one."""
        flat = np.asarray(data, dtype=np.float32).ravel()
        nx = data.shape[1]
        count = self.count if region is None else self.count[region]
        total = np.zeros(count.shape, np.float32)
        for m, weights in zip(self.pairing.maps, self.weights):
            base = m.base if region is None else m.base[region]
            for offset, w in zip((0, nx, 1, nx + 1), weights):
                total += (w if region is None else w[region]) * np.take(flat, base + offset)
        return np.where(count > 0, total / np.maximum(count, 1.0), 0.0).astype(np.float32), count


def check_response(response: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``response`` as float32 of ``shape``, positive and finite; clear errors otherwise."""
    response = np.asarray(response, np.float32)
    if response.shape != tuple(shape):
        raise InputError(f"the response field is {response.shape}, the detector plane {tuple(shape)}")
    if not np.all(np.isfinite(response)) or np.any(response <= 0):
        raise InputError("the response field must be positive and finite everywhere")
    return response


@dataclass(frozen=True)
class Partners:
    """Sampled partner measurements of one image: ``(K, ny, nx)`` values, variances, usability."""

    values: np.ndarray
    variances: np.ndarray
    ok: np.ndarray

    def mean(self, drop: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Average of the usable partners and their number, per pixel.

        ``drop`` (K, ny, nx), True where a partner must not be used (the symmetry is
        locally broken there). Pixels without a usable partner get 0.
        """
        ok = self.ok if drop is None else self.ok & ~drop
        count = ok.sum(axis=0).astype(np.float32)
        total = np.where(ok, self.values, 0.0).sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1.0), 0.0).astype(np.float32), count
