"""The one type that flows through asirp: :class:`Frame`.

A frame is a 2-D image ``(ny, nx)`` or a stack of them ``(n, ny, nx)`` (time series,
tomography projections) with everything a restoration needs to be trustworthy:

* ``data``: float32 values (counts, normalised intensities, attenuation...);
* ``valid``: boolean mask, True where the pixel was measured. It comes from the file
  (detector ``pixel_mask``, sentinel values, NaN/inf) and is **never inferred from
  zeros**: a zero count is a measurement;
* ``kind``: what the data is (see :data:`KINDS`), used to choose methods;
* ``pixel_size``: physical pixel or scan-step size with units;
* ``geometry``: the detector geometry (pyFAI PONI), when known;
* ``meta``: free metadata (source file, its sha256, detector saturation...);
* ``history``: the ordered provenance steps.

Frames are immutable: arrays are read-only views, and methods return new frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import InputError
from .geometry import Geometry
from .history import HistoryStep
from .kinds import COUNTING_KINDS, KINDS, Kind
from .units import PixelSize

#: Largest magnitude of a measured value a frame holds. Methods compute in float32, whose
#: squares and sums of squares over a 16-Mpx frame overflow beyond it; no X-ray
#: measurement comes near it (a 32-bit counter stops at 4.3e9).
MAX_ABS_VALUE = 1e15


def check_range(values: np.ndarray, source: str | None = None) -> None:
    """Refuse measured ``values`` (any real dtype) that are NaN or infinite, or beyond :data:`MAX_ABS_VALUE`
    in magnitude.

    Checked in the values' own dtype, before any cast to float32 (which would turn
    float64 values beyond 3.4e38 into inf). One minimum and one maximum do both checks
    (a NaN propagates into both, an infinity into one): no array of flags.
    """
    if values.size:
        low, high = float(values.min()), float(values.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            raise InputError("data contain NaN or inf at pixels marked valid; use Frame.from_array to mask them", source)
        largest = max(abs(low), abs(high))
        if largest > MAX_ABS_VALUE:
            raise InputError(
                f"values up to {largest:.3g} exceed {MAX_ABS_VALUE:.0e}, the largest magnitude whose squares and "
                "sums stay within the float32 range asirp computes in; rescale the data",
                source,
            )


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class Frame:
    """An image or image stack with its validity mask, physics and provenance.

    Build frames with :meth:`Frame.from_array` (which masks NaN/inf for you) or the
    constructor (which insists the data are clean). Invalid pixels hold 0 in ``data``
    so that array maths never meets a NaN; always read them through ``valid``.

    Examples
    --------
    >>> import numpy as np
    >>> f = Frame.from_array(np.array([[1.0, np.nan], [3.0, 4.0]]), kind="image")
    >>> f.valid.tolist()
    [[True, False], [True, True]]
    >>> float(f.data[0, 1])
    0.0
    """

    data: np.ndarray
    #: True = measured. Given as None, every pixel is measured: it is always an array once built.
    valid: np.ndarray = None  # type: ignore[assignment]
    kind: Kind = "image"
    pixel_size: PixelSize | None = None
    geometry: Geometry | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[HistoryStep, ...] = ()

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        source = self.meta.get("source") if isinstance(self.meta, Mapping) else None
        if data.dtype.kind not in "fiu":
            raise InputError(
                f"data of dtype {data.dtype} cannot be restored; expected real numbers "
                "(integer counts or floating point)",
                source,
            )
        if data.ndim not in (2, 3):
            raise InputError(
                f"expected a 2-D image (ny, nx) or a 3-D stack (n, ny, nx), got {data.ndim}-D data "
                f"of shape {data.shape}",
                source,
            )
        if min(data.shape) < 1 or min(data.shape[-2:]) < 2:
            raise InputError(f"frame of shape {data.shape} is too small to be an image", source)
        if self.valid is None:
            valid = np.ones(data.shape, dtype=bool)
        else:
            valid = np.asarray(self.valid)
            if valid.dtype != bool:
                raise InputError(f"valid mask must be boolean, got {valid.dtype}", source)
            if valid.shape != data.shape:
                raise InputError(f"valid mask shape {valid.shape} differs from data shape {data.shape}", source)
        all_valid = bool(valid.all())
        check_range(data if all_valid else data[valid], source)  # every pixel measured: no copy
        data = data.astype(np.float32, copy=False)
        if self.kind not in KINDS:
            raise InputError(f"unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}", source)
        if not valid.any():
            raise InputError("every pixel is masked: nothing to restore", source)
        if not all_valid and np.any(data[~valid] != 0):
            data = np.where(valid, data, np.float32(0))
        if self.geometry is not None:
            self.geometry.check_fits(data.shape[-2:], source)
        object.__setattr__(self, "data", _readonly(data))
        object.__setattr__(self, "valid", _readonly(valid))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        object.__setattr__(self, "history", tuple(self.history))

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_array(
        cls,
        data: np.ndarray,
        valid: np.ndarray | None = None,
        *,
        kind: Kind = "image",
        pixel_size: PixelSize | None = None,
        geometry: Geometry | None = None,
        meta: Mapping[str, Any] | None = None,
        history: tuple[HistoryStep, ...] = (),
    ) -> Frame:
        """Build a frame from an array, masking non-finite values.

        NaN and ±inf are treated as "not measured" and added to the mask (they are
        what many pipelines write in detector gaps). Everything else is validated by
        the constructor.
        """
        array = np.asarray(data)
        if array.dtype.kind in "fc":
            finite = np.isfinite(array)
            valid = finite if valid is None else (np.asarray(valid, dtype=bool) & finite)
        measured = np.ones(array.shape, dtype=bool) if valid is None else np.asarray(valid)
        return cls(array, measured, kind, pixel_size, geometry, dict(meta or {}), history)

    def derive(self, data: np.ndarray, step: HistoryStep, *, valid: np.ndarray | None = None, **changes: Any) -> Frame:
        """A new frame holding ``data`` produced from this one by ``step``.

        Keeps kind, pixel size, geometry and metadata unless overridden in
        ``changes``; the mask is kept when the shape is unchanged and ``valid`` is not
        given. The step is appended to the history.
        """
        if valid is None:
            valid = self.valid if np.shape(data) == self.shape else np.ones(np.shape(data), dtype=bool)
        return replace(self, data=np.asarray(data), valid=np.asarray(valid), history=self.history + (step,), **changes)

    # -- views ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def is_stack(self) -> bool:
        """True for a stack of frames ``(n, ny, nx)``."""
        return self.data.ndim == 3

    @property
    def image_shape(self) -> tuple[int, int]:
        """Shape ``(ny, nx)`` of one image."""
        ny, nx = self.data.shape[-2:]
        return int(ny), int(nx)

    @property
    def mask_fraction(self) -> float:
        """Fraction of pixels that are masked (not measured)."""
        return float(1.0 - self.valid.mean())

    @property
    def is_counting(self) -> bool:
        """True when values are photon counts (Poisson statistics)."""
        return self.kind in COUNTING_KINDS

    def images(self) -> list[Frame]:
        """The frames of a stack, one 2-D frame each (a 2-D frame gives itself)."""
        if not self.is_stack:
            return [self]
        return [replace(self, data=self.data[i], valid=self.valid[i]) for i in range(self.shape[0])]

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle support (Dask workers, multiprocessing): the meta mapping proxy is not picklable."""
        return (
            _rebuild_frame,
            (np.array(self.data), np.array(self.valid), self.kind, self.pixel_size,
             None if self.geometry is None else self.geometry.poni, dict(self.meta), self.history),
        )

    def __repr__(self) -> str:
        size = f", pixel_size={self.pixel_size.y:g}x{self.pixel_size.x:g} {self.pixel_size.unit}" if self.pixel_size else ""
        return (
            f"Frame(kind={self.kind!r}, shape={self.shape}{size}, masked={self.mask_fraction:.1%}, "
            f"steps={[s.method for s in self.history]})"
        )


def _rebuild_frame(
    data: np.ndarray, valid: np.ndarray, kind: Kind, pixel_size: PixelSize | None,
    poni: dict[str, Any] | None, meta: dict[str, Any], history: tuple[HistoryStep, ...],
) -> Frame:
    """Inverse of :meth:`Frame.__reduce__` (the geometry travels as its PONI dictionary)."""
    return Frame(data, valid, kind, pixel_size, None if poni is None else Geometry(poni), meta, history)


def stack(frames: list[Frame]) -> Frame:
    """Stack 2-D frames of one shape into a 3-D frame, keeping the first one's metadata."""
    if not frames:
        raise InputError("cannot stack an empty list of frames")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1 or frames[0].is_stack:
        raise InputError(f"can only stack 2-D frames of one shape, got shapes {sorted(shapes)}")
    first = frames[0]
    return replace(
        first,
        data=np.stack([f.data for f in frames]),
        valid=np.stack([f.valid for f in frames]),
    )
