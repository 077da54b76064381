"""Restore element maps with any method of the repertoire, or ``"auto"``, the PSF built from beam size and step.

The beam spot is the PSF of a scanning probe: a Gaussian of the beam's FWHM sampled
at the scan step (50 µm at 25 µm steps: σ = 0.85 px). :func:`restore_maps` hands the
beam size to the method in the form its parameter model takes: ``beam_fwhm`` (a
length such as ``"50um"``, converted by the method with the map's pixel size, i.e.
the scan step) or ``psf_sigma`` in pixels (converted here with
:func:`asirp.psf.beam_sigma_px`). With ``"auto"`` the selector chooses a method for
each map (maps of different elements differ in counts and blur) and is given the
beam as ``psf_sigma`` in pixels, which it then does not estimate. The restoration
itself is :func:`asirp.restore`, so provenance and parameter validation are the
repertoire's; :func:`check_restoration` validates the request before any spectra
are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api import restore
from ..errors import ParameterError
from ..frame import Frame
from ..methods.base import get_method, registry
from ..progress import progress
from ..psf import beam_sigma_px
from ..units import PixelSize

#: The options ``"auto"`` passes on to the candidate methods that take them: an isotropic PSF in px, iterations.
_AUTO_FIELDS = ("psf_sigma", "iterations")


def _fields(method: str) -> Any:
    """The parameter names ``method`` takes (for ``"auto"``: those it hands to its candidates)."""
    return _AUTO_FIELDS if method == "auto" else get_method(method).Parameters.model_fields


def _beam_parameters(method: str, fields: Any, pixel_size: PixelSize, beam_fwhm: str | float) -> dict[str, Any]:
    """The beam FWHM as the PSF parameter ``method`` takes: a length, or σ in map pixels (isotropic)."""
    if "beam_fwhm" in fields:
        return {"beam_fwhm": beam_fwhm if isinstance(beam_fwhm, str) else f"{float(beam_fwhm)}um"}
    sigma_y, sigma_x = beam_sigma_px(beam_fwhm, pixel_size)
    if abs(sigma_y - sigma_x) > 1e-9:
        raise ParameterError(
            f"the beam is {sigma_y:.3g} x {sigma_x:.3g} px (rows x columns: the scan steps differ), but method "
            f"{method!r} takes an isotropic psf_sigma: give --psf-sigma, or a method that takes beam_fwhm"
        )
    return {"psf_sigma": sigma_y}


def method_parameters(
    method: str,
    frame: Frame | None,
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
        A registered method name, or ``"auto"``.
    frame:
        The map to restore (its pixel size, the scan step, converts a beam FWHM);
        None checks the options without converting the beam.
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
        An unknown method, both or an unusable PSF size, a beam size for a method that
        takes no PSF, a beam size without a scan step (or giving an anisotropic PSF to
        a method that takes only ``psf_sigma``), iterations for a non-iterative method.
    """
    fields = _fields(method)
    out: dict[str, Any] = {}
    if beam_fwhm is not None and psf_sigma is not None:
        raise ParameterError("give the PSF either as beam_fwhm (a length) or as psf_sigma (pixels), not both")
    if beam_fwhm is not None:
        pixel_size = None if frame is None else frame.pixel_size
        if frame is not None and pixel_size is None:
            raise ParameterError(
                "a beam FWHM needs the scan step to become a PSF in pixels, and the map has none: "
                "give the step (--step 25um) or the PSF width in pixels (--psf-sigma)"
            )
        if "beam_fwhm" not in fields and "psf_sigma" not in fields:
            raise ParameterError(f"method {method!r} takes no PSF, so a beam size cannot be used with it")
        if pixel_size is not None:  # with a frame (checked above)
            out.update(_beam_parameters(method, fields, pixel_size, beam_fwhm))
    elif psf_sigma is not None:
        if "psf_sigma" not in fields:
            raise ParameterError(f"method {method!r} takes no psf_sigma parameter")
        out["psf_sigma"] = psf_sigma
    if iterations is not None:
        if "iterations" not in fields:  # every iterative method of the repertoire calls it so
            raise ParameterError(f"method {method!r} is not iterative (no iterations parameter)")
        out["iterations"] = iterations
    return {**out, **dict(params or {})}


def check_restoration(
    method: str,
    *,
    beam_fwhm: str | float | None = None,
    psf_sigma: float | None = None,
    iterations: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Refuse, before any spectra are read, what :func:`restore_maps` would refuse whatever the maps.

    The method name and the options it takes; with a method, every parameter and its
    range; with ``"auto"``, parameters no method of the repertoire takes.
    """
    kwargs = method_parameters(method, None, beam_fwhm=beam_fwhm, psf_sigma=psf_sigma, iterations=iterations, params=params)
    if method != "auto":
        get_method(method).validate(**kwargs)
        return
    known = {name for cls in registry().values() for name in cls.Parameters.model_fields}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ParameterError(f"no method takes the parameter(s) {', '.join(map(repr, unknown))}, so auto cannot use them")


def restore_maps(
    frames: Mapping[str, Frame],
    method: str,
    *,
    beam_fwhm: str | float | None = None,
    psf_sigma: float | None = None,
    iterations: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Frame]:
    """Restore every element map with ``method`` or ``"auto"`` (see :func:`method_parameters`).

    Returns ``{name: restored frame}``; each restored frame's history ends with the
    method's step (parameters in full, duration, notes; with ``"auto"`` the selector's
    decision and reasons under ``"selection"``). A progress bar counts the maps.
    """
    restored = {}
    for name, frame in progress(frames.items(), desc=f"restoring maps ({method})", total=len(frames), unit="map"):
        kwargs = method_parameters(method, frame, beam_fwhm=beam_fwhm, psf_sigma=psf_sigma, iterations=iterations, params=params)
        restored[name] = restore(frame, method, **kwargs)
    return restored
