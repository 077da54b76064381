"""The incident beam: its spot profile (a Gaussian PSF) and its intensity over time.

The spot of a polycapillary or KB focus is close to a 2-D Gaussian; its FWHM (e.g.
~50 µm at BSRF 4W1B) divided by the scan step gives the blur in map pixels. A storage
ring in top-up or parasitic mode delivers a sawtooth-like current: a jump at each
injection followed by an exponential decay (beam lifetime), which leaves dark stripes
in slow scans.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..psf import gaussian_psf  # noqa: F401  (the beam-spot kernel; one implementation for synth and deconvolution)
from . import _checks

#: sigma = FWHM * FWHM_TO_SIGMA for a Gaussian (1 / (2 sqrt(2 ln 2)) ~ 1/2.3548).
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True)
class Sawtooth:
    """Periodic beam intensity of a storage ring in top-up / parasitic mode.

    At each injection the intensity jumps back to its full value, then decays
    exponentially (beam lifetime) until the next one, losing ``depth`` of it over a
    period. Scan points are acquired one after the other, ``dwell_s`` each, so a scan
    slower than the period shows dark stripes (the "gaps" of the paper's 5 and 10 µm
    maps).

    Attributes
    ----------
    period_s:
        Time between injections, seconds.
    depth:
        Fractional intensity drop over one period, in [0, 1).
    dwell_s:
        Acquisition time per scan point, seconds.
    i0_counts:
        Mean counts of the ionisation chamber (I0 monitor) per point at full beam;
        its Poisson noise, ``1/sqrt(i0_counts)`` relative, is the monitor's own noise.
    """

    period_s: float = 60.0
    depth: float = 0.3
    dwell_s: float = 0.05
    i0_counts: float = 1e5

    def __post_init__(self) -> None:
        _checks.positive("Sawtooth.period_s", self.period_s, unit="s")
        _checks.positive("Sawtooth.dwell_s", self.dwell_s, unit="s")
        _checks.positive("Sawtooth.i0_counts", self.i0_counts)
        if not 0.0 <= float(self.depth) < 1.0:
            raise ParameterError(f"Sawtooth.depth must be a fraction in [0, 1), got {self.depth!r}")

    def intensity(self, n_points: int, phase_s: float = 0.0) -> np.ndarray:
        """Relative beam intensity (1 right after an injection) at each of ``n_points``.

        ``phase_s`` is the time since the last injection when the scan starts. Point
        ``i`` is acquired at ``t = phase_s + i * dwell_s``.
        """
        since_injection = np.mod(phase_s + np.arange(n_points) * self.dwell_s, self.period_s)
        # Exponential decay with the lifetime that loses `depth` over one period.
        return np.power(1.0 - self.depth, since_injection / self.period_s)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
