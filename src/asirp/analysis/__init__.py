"""Physics and quality measures: PSNR, SSIM, NRMSE, contrast, Fourier ring correlation, and
physics checks of diffraction frames (azimuthal profiles, peaks, orientation, PDF G(r)).

Every measure takes numpy arrays or :class:`~asirp.frame.Frame` objects (2-D images or
3-D stacks) and an optional boolean ``valid`` mask (True = use the pixel) that is
combined with the frames' own masks.
"""

from .frc import FRC_THRESHOLDS, FRCResult, frc, half_bit_threshold
from .metrics import NRMSE_NORMALISATIONS, contrast_std, nrmse, psnr, ssim
from .physics import (
    Orientation,
    Peak,
    Profile,
    azimuthal_profile,
    find_peaks_1d,
    flat_geometry,
    orientation,
    pdf_transform,
    pseudo_voigt,
    structure_factor,
)

__all__ = [
    "FRC_THRESHOLDS",
    "FRCResult",
    "NRMSE_NORMALISATIONS",
    "Orientation",
    "Peak",
    "Profile",
    "azimuthal_profile",
    "find_peaks_1d",
    "flat_geometry",
    "orientation",
    "pdf_transform",
    "pseudo_voigt",
    "structure_factor",
    "contrast_std",
    "frc",
    "half_bit_threshold",
    "nrmse",
    "psnr",
    "ssim",
]
