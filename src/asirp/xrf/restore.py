"""Restore element maps with any method of the repertoire, the PSF built from beam size and step.

The beam spot is the PSF of a scanning probe: a Gaussian of the beam's FWHM sampled
at the scan step (50 µm at 25 µm steps: σ = 0.85 px). :func:`restore_maps` hands the
beam size to the method in the form its parameter model takes: ``beam_fwhm`` (a
length such as ``"50um"``, converted by the method with the map's pixel size, i.e.
the scan step) or ``psf_sigma`` in pixels (converted here with
:func:`asirp.psf.beam_sigma_px`). The restoration itself is
:func:`asirp.restore`, so provenance and parameter validation are the repertoire's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api import restore
from ..errors import ParameterError
from ..frame import Frame
from ..methods.base import get_method
from ..psf import beam_sigma_px

#: Parameter names a method may use for its iteration count, in order of preference.
_ITERATION_FIELDS = ("iterations", "num_iter", "n_iter", "max_iterations")


def method_parameters(
    method: str,
    frame: Frame,
    *,
    beam_fwhm: str | float | None = None,
    psf_sigma: float | None = None,
    iterations: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The keyword arguments for ``asirp.restore(frame, method, ...)``.

    Parameters
    ----------
    method:
        A registered method name.
    beam_fwhm:
        Beam FWHM as a length (``"50um"``; a bare number is in µm).
    psf_sigma:
        Gaussian PSF width in map pixels (instead of ``beam_fwhm``).
    iterations:
        Iteration count, for iterative methods.
    params:
        Any other parameters of the method (they win over the ones above).

    Raises
    ------
    ParameterError
        Both or an unusable PSF size, a beam size for a method that takes no PSF, a
        beam size without a scan step, iterations for a non-iterative method.
    """
    fields = get_method(method).Parameters.model_fields
    out: dict[str, Any] = {}
    if beam_fwhm is not None and psf_sigma is not None:
        raise ParameterError("give the PSF either as beam_fwhm (a length) or as psf_sigma (pixels), not both")
    if beam_fwhm is not None:
        if frame.pixel_size is None:
            raise ParameterError(
                "a beam FWHM needs the scan step to become a PSF in pixels, and the map has none: "
                "give the step (--step 25um) or the PSF width in pixels (--psf-sigma)"
            )
        if "beam_fwhm" in fields:
            out["beam_fwhm"] = beam_fwhm if isinstance(beam_fwhm, str) else f"{float(beam_fwhm)}um"
        elif "psf_sigma" in fields:
            sigma_y, sigma_x = beam_sigma_px(beam_fwhm, frame.pixel_size)
            out["psf_sigma"] = sigma_y if abs(sigma_y - sigma_x) < 1e-9 else [sigma_y, sigma_x]
        else:
            raise ParameterError(f"method {method!r} takes no PSF, so a beam size cannot be used with it")
    elif psf_sigma is not None:
        if "psf_sigma" not in fields:
            raise ParameterError(f"method {method!r} takes no psf_sigma parameter")
        out["psf_sigma"] = psf_sigma
    if iterations is not None:
        name = next((f for f in _ITERATION_FIELDS if f in fields), None)
        if name is None:
            raise ParameterError(f"method {method!r} is not iterative (no iterations parameter)")
        out[name] = iterations
    return {**out, **dict(params or {})}


def restore_maps(
    frames: Mapping[str, Frame],
    method: str,
    *,
    beam_fwhm: str | float | None = None,
    psf_sigma: float | None = None,
    iterations: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Frame]:
    """Restore every element map with ``method`` (see :func:`method_parameters`).

    Returns ``{name: restored frame}``; each restored frame's history ends with the
    method's step (parameters in full, duration, notes).
    """
    restored = {}
    for name, frame in frames.items():
        kwargs = method_parameters(method, frame, beam_fwhm=beam_fwhm, psf_sigma=psf_sigma, iterations=iterations, params=params)
        restored[name] = restore(frame, method, **kwargs)
    return restored
