"""Symmetry-based self-supervised denoising of diffraction, scattering and PDF frames.

Its module :mod:`.methods` (imported by :mod:`asirp.methods.builtin`) registers ``symmetry``, ``symmetric_average``, ``supervised``,
``smae_halves``, ``noise2self``, ``azimuthal_median`` and (when the optional ``bm3d``
package is installed) ``bm3d``. The symmetry analysis itself is :mod:`asirp.symmetry`.
"""

METHOD_MODULES = ("methods",)  # not imported here: .cli is imported by every asirp command line (torch)
