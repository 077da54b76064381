"""The named choices and defaults of the tomography steps, without numpy.

Kept apart from the steps (:mod:`.correct`, :mod:`.reconstruct`, :mod:`.restore`, which
import numpy, scipy and h5py) so that ``asirp tomo`` offers them as command-line
choices while the parser is built, which must stay cheap (``asirp --help``).
"""

from __future__ import annotations

from ..errors import ParameterError

#: Default floor of the transmission before the logarithm (attenuation capped at -ln(1e-3) = 6.9).
TRANSMISSION_FLOOR = 1e-3

#: Filters of filtered back-projection.
FILTERS: tuple[str, ...] = ("ramp", "shepp-logan", "cosine", "hamming", "hann")
#: Reconstruction algorithms.
ALGORITHMS: tuple[str, ...] = ("fbp", "sirt")

#: Smallest projection side (px) that ``restore_target="auto"`` restores before
#: reconstruction. The PSF width estimated from an image is bounded by a side / 8
#: (:func:`asirp.spectrum.spectral_sigma`): on the 16- and 24-row phantoms of the tomo
#: benchmark it sits at that bound (2 and 2.8 px for a true 1.06 px), from 32 rows on
#: it does not (1.6 px), so 32 px allow blur widths up to 4 px, and a PSF a few σ wide
#: then leaves most of the projection away from its edges.
MIN_PROJECTION_SIDE = 32
#: Where restoration applies: ``auto`` chooses by :data:`MIN_PROJECTION_SIDE`.
TARGETS: tuple[str, ...] = ("auto", "projections", "slices")

#: Ways of finding the rotation axis (:func:`asirp.tomo.find_centre`'s methods).
CENTRE_METHODS: tuple[str, ...] = ("auto", "registration", "sharpness")
#: SIRT iterations allowed.
MAX_ITERATIONS = 10000


def parse_centre(text: str) -> float | str:
    """The rotation axis as ``asirp tomo recon --center`` takes it: a method name, or a detector column in px."""
    if text in CENTRE_METHODS:
        return text
    try:
        return float(text)
    except ValueError:
        raise ParameterError(f"--center expects auto, registration, sharpness or a column in px, got {text!r}") from None


def parse_rows(text: str | None) -> tuple[int, int] | None:
    """Detector rows as ``asirp tomo recon --rows`` takes them: ``START:STOP`` (None: all rows).

    Only the form is checked here; :func:`asirp.tomo.read_scan` refuses rows out of order or
    past the detector's last one with its own message, when it knows the detector's height.
    """
    if text is None:
        return None
    start, _, stop = text.partition(":")
    try:
        return int(start), int(stop)
    except ValueError:
        raise ParameterError(f"--rows expects START:STOP (detector rows), got {text!r}") from None


def check_iterations(iterations: int) -> int:
    """``iterations`` if SIRT runs that many (1 to :data:`MAX_ITERATIONS`), else the one-line error."""
    if not 1 <= int(iterations) <= MAX_ITERATIONS:
        raise ParameterError(f"iterations must be between 1 and {MAX_ITERATIONS}, got {iterations}")
    return int(iterations)
