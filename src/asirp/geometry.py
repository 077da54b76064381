"""Detector geometry as pyFAI PONI parameters.

The geometry is kept as the PONI dictionary (``dist``, ``poni1``, ``poni2``,
``rot1..3`` in metres and radians, ``wavelength`` in metres, detector and pixel
sizes), so it is explicit, serialisable (written into NeXus as PONI text) and turned
into a pyFAI integrator only when q/χ arrays or azimuthal integration are needed.
"""

from __future__ import annotations

import enum
import io
import json
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from os import PathLike
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator


#: How far outside the image (in image sizes) a geometry without a detector shape may put
#: both its beam centre and its normal incidence point (:meth:`Geometry.check_fits`).
OFF_IMAGE_LIMIT = 1.0


def _outside(point: tuple[float, float], shape: tuple[int, int]) -> float:
    """Distance in pixels from ``point`` ``(y, x)`` to an image of ``shape`` (0 inside, inf if not finite).

    The distance to the box ``[0, ny] x [0, nx]`` does not change when the detector
    orientation flips an axis, so pyFAI's orientations need no special case.
    """
    if not all(math.isfinite(v) for v in point):
        return math.inf
    dy = max(0.0, -point[0], point[0] - shape[0])
    dx = max(0.0, -point[1], point[1] - shape[1])
    return math.hypot(dy, dx)


def _plain(value: Any) -> Any:
    """PONI dictionaries hold enum members (detector orientation); make them JSON-able."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    return value


@lru_cache(maxsize=8)
def _integrator(poni_json: str) -> AzimuthalIntegrator:
    """One pyFAI integrator per PONI (JSON text): equal geometries built apart share it.

    Building one costs ~0.15 s (pyFAI runs the garbage collector on every reset) and
    loses the q/χ arrays and integration engines pyFAI caches in it; the selector
    scores methods on copies of a frame, each with its own geometry object.
    """
    import pyFAI

    return pyFAI.load(json.loads(poni_json))


@dataclass(frozen=True, eq=False)
class Geometry:
    """pyFAI geometry of a detector frame (a PONI calibration).

    Examples
    --------
    >>> g = Geometry.from_params(dist=0.2, poni1=0.05, poni2=0.04, wavelength=1e-10,
    ...                          pixel1=172e-6, pixel2=172e-6)
    >>> [round(v, 1) for v in g.beam_center_px()]
    [290.7, 232.6]
    """

    poni: dict[str, Any]

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> Geometry:
        """Read a ``.poni`` file written by pyFAI-calib2 (or any PONI version)."""
        from pyFAI.io.ponifile import PoniFile

        try:
            return cls(_plain(PoniFile(str(path)).as_dict()))
        except FileNotFoundError:
            raise InputError("PONI file not found", path) from None
        except Exception as exc:
            raise InputError(f"not a readable PONI calibration ({exc})", path) from None

    @classmethod
    def from_text(cls, text: str) -> Geometry:
        """Parse PONI text (the content of a ``.poni`` file)."""
        from pyFAI.io.ponifile import PoniFile

        values: dict[str, Any] = {}
        for line in text.splitlines():
            if ":" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition(":")
                values[key.strip().lower()] = value.strip()
        if "detector_config" in values:
            values["detector_config"] = json.loads(values["detector_config"])
        try:
            return cls(_plain(PoniFile(values).as_dict()))
        except Exception as exc:
            raise InputError(f"not a readable PONI calibration ({exc})") from None

    @classmethod
    def from_params(
        cls,
        *,
        dist: float,
        poni1: float,
        poni2: float,
        wavelength: float,
        pixel1: float,
        pixel2: float,
        rot1: float = 0.0,
        rot2: float = 0.0,
        rot3: float = 0.0,
        detector: str = "Detector",
        max_shape: tuple[int, int] | None = None,
    ) -> Geometry:
        """Geometry from explicit parameters (metres, radians), as in a PONI file."""
        config: dict[str, Any] = {"pixel1": pixel1, "pixel2": pixel2, "orientation": 3}
        if max_shape is not None:
            config["max_shape"] = [int(max_shape[0]), int(max_shape[1])]
        return cls(
            {
                "poni_version": 2.1,
                "dist": dist,
                "poni1": poni1,
                "poni2": poni2,
                "rot1": rot1,
                "rot2": rot2,
                "rot3": rot3,
                "detector": detector,
                "detector_config": config,
                "wavelength": wavelength,
            }
        )

    def to_text(self) -> str:
        """PONI text, as pyFAI writes it."""
        from pyFAI.io.ponifile import PoniFile

        buffer = io.StringIO()
        PoniFile(self.poni).write(buffer)
        return buffer.getvalue()

    @cached_property
    def integrator(self) -> AzimuthalIntegrator:
        """A pyFAI azimuthal integrator for this geometry, shared by every equal geometry (see :func:`_integrator`)."""
        return _integrator(json.dumps(_plain(self.poni), sort_keys=True))

    @property
    def detector_shape(self) -> tuple[int, int] | None:
        """The detector's pixel shape if the geometry fixes it, else None."""
        shape = self.integrator.detector.max_shape
        return None if shape is None else (int(shape[0]), int(shape[1]))

    def check_shape(self, image_shape: tuple[int, ...], source: str | None = None) -> None:
        """Raise :class:`InputError` when the geometry's detector shape differs from the frame's."""
        expected = self.detector_shape
        if expected is not None and tuple(image_shape) != expected:
            raise InputError(
                f"geometry is for a {expected[0]}x{expected[1]} detector but the frame is "
                f"{image_shape[0]}x{image_shape[1]} pixels",
                source,
            )

    def check_fits(self, image_shape: tuple[int, ...], source: str | None = None) -> None:
        """Raise :class:`InputError` when this cannot be the geometry of an ``image_shape`` image.

        * A detector shape stated by the geometry must be the image's (:meth:`check_shape`).
        * Without one (a version-1 PONI, a generic detector), the direct beam or the
          point of normal incidence must lie within :data:`OFF_IMAGE_LIMIT` image sizes
          (the longer side) of the image. A calibration of another detector (a
          1043 x 981 Pilatus PONI on 64 x 64 frames) puts both hundreds of pixels
          away, and azimuthal methods then average empty rings. A detector facing the
          sample far off the beam (WAXS) has its normal incidence point on it; any
          other setup can state its shape in the PONI to be accepted.
        """
        self.check_shape(image_shape, source)
        if self.detector_shape is not None:
            return
        ny, nx = (int(n) for n in image_shape[-2:])
        limit = OFF_IMAGE_LIMIT * max(ny, nx)
        beam, normal = self.beam_center_px(), self.poni_px()
        if min(_outside(beam, (ny, nx)), _outside(normal, (ny, nx))) > limit:
            raise InputError(
                f"geometry does not fit the {ny}x{nx} frame: its beam centre (y {beam[0]:.0f}, x {beam[1]:.0f} px) "
                f"and normal incidence point lie over {limit:.0f} px outside it (a PONI for another detector?)",
                source,
            )

    def poni_px(self) -> tuple[float, float]:
        """Point of normal incidence ``(y, x)`` in pixels (PONI distances over the pixel size)."""
        detector = self.integrator.detector
        return float(self.poni["poni1"]) / float(detector.pixel1), float(self.poni["poni2"]) / float(detector.pixel2)

    def cropped(self, origin: tuple[int, int], shape: tuple[int, int]) -> Geometry:
        """The geometry of the ``shape`` window of the detector starting at pixel ``origin`` ``(y, x)``.

        The point of normal incidence moves by the offset times the pixel size;
        distance, rotations and wavelength stay (a crop does not move the detector).
        The detector becomes a generic one of the crop's shape with the same pixel size.

        Raises
        ------
        InputError
            A detector orientation other than pyFAI's default (3), whose pixel origin
            is not the first row and column.
        """
        config = dict(self.poni.get("detector_config") or {})
        orientation = int(config.get("orientation", 3) or 3)
        if orientation != 3:
            raise InputError(f"cannot crop a PONI with detector orientation {orientation} (only the default, 3)")
        detector = self.integrator.detector
        pixel1, pixel2 = float(detector.pixel1), float(detector.pixel2)
        poni = dict(self.poni)
        poni["poni1"] = float(poni["poni1"]) - origin[0] * pixel1
        poni["poni2"] = float(poni["poni2"]) - origin[1] * pixel2
        poni["detector"] = "Detector"
        poni["detector_config"] = {"pixel1": pixel1, "pixel2": pixel2, "orientation": 3,
                                   "max_shape": [int(shape[0]), int(shape[1])]}
        return Geometry(poni)

    def upsampled(self, scale: int, shape: tuple[int, int]) -> Geometry:
        """The same detector sampled with pixels ``scale`` times smaller, ``shape`` pixels in all.

        Super-resolution keeps the pixel grid's corner: PONI distances (m), distance,
        rotations and wavelength stay; the pixel size is divided by ``scale``.
        """
        detector = self.integrator.detector
        poni = dict(self.poni)
        poni["detector"] = "Detector"
        poni["detector_config"] = {
            "pixel1": float(detector.pixel1) / scale,
            "pixel2": float(detector.pixel2) / scale,
            "max_shape": [int(shape[0]), int(shape[1])],
            "orientation": int(getattr(detector.orientation, "value", detector.orientation) or 3),
        }
        return Geometry(poni)

    def beam_center_px(self) -> tuple[float, float]:
        """Direct-beam position ``(y, x)`` in pixels (pyFAI's Fit2D centre)."""
        fit2d = self.integrator.getFit2D()
        return float(fit2d["centerY"]), float(fit2d["centerX"])
