"""The container every generator returns: ground truth, noise-free measurement, noisy measurement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..frame import Frame, Kind
from ..geometry import Geometry
from ..units import PixelSize


@dataclass(frozen=True)
class SynthResult:
    """A synthetic measurement with everything needed to score a restoration.

    Attributes
    ----------
    truth:
        What a perfect restoration returns: the unblurred, noise-free signal, in
        expected counts per pixel (the same units as ``noisy``).
    blurred:
        The noise-free measurement: ``truth`` convolved with ``psf`` (the beam or
        instrument blur). Its data equal ``truth``'s when there is no blur.
    noisy:
        What the detector records (Poisson counts). ``truth``, ``blurred`` and
        ``noisy`` share one ``valid`` mask (the detector's gaps, beamstop, hot pixels),
        so every comparison is made on measured pixels only.
    psf:
        The normalised blur kernel in pixels (odd-sized, sums to 1) relating ``truth``
        to ``blurred``, or None when there is no blur.
    meta:
        Every generator parameter plus derived facts (PSF width in pixels, beam
        centre, ring positions, event frame, per-point I0...). Arrays live here, not
        in the frames' own ``meta``, which stays small and serialisable.
    """

    truth: Frame
    blurred: Frame
    noisy: Frame
    psf: np.ndarray | None
    meta: dict[str, Any]

    @classmethod
    def from_arrays(
        cls,
        truth: np.ndarray,
        blurred: np.ndarray,
        noisy: np.ndarray,
        *,
        valid: np.ndarray | None,
        kind: Kind,
        generator: str,
        seed: int,
        psf: np.ndarray | None,
        meta: dict[str, Any],
        pixel_size: PixelSize | None = None,
        geometry: Geometry | None = None,
        frame_meta: dict[str, Any] | None = None,
    ) -> SynthResult:
        """Wrap three arrays of one shape into frames sharing mask, kind and physics.

        Each frame's own ``meta`` names the generator, the signal and the seed, plus
        ``frame_meta`` (small, serialisable facts a consumer of the frame alone needs,
        such as projection angles).
        """

        measured = np.ones(np.shape(truth), dtype=bool) if valid is None else valid

        def frame(data: np.ndarray, signal: str) -> Frame:
            return Frame(
                np.asarray(data, dtype=np.float32),
                measured,
                kind,
                pixel_size,
                geometry,
                {"source": f"asirp.synth.{generator}", "synthetic": signal, "seed": seed, **(frame_meta or {})},
            )

        return cls(frame(truth, "truth"), frame(blurred, "blurred"), frame(noisy, "noisy"), psf, meta)
