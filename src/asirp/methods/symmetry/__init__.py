"""Symmetry-based self-supervised denoising of diffraction, scattering and PDF frames.

Importing this package registers ``symmetry``, ``symmetric_average``, ``supervised``,
``smae_halves``, ``noise2self``, ``azimuthal_median`` and (when the optional ``bm3d``
package is installed) ``bm3d``. The symmetry analysis itself is :mod:`asirp.symmetry`.
"""

from . import methods  # noqa: F401
