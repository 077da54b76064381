"""The selector hands its blur estimate to a method through the PSF-width field its parameter model declares."""

from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import Field

from asirp import Frame, synth
from asirp.methods import base
from asirp.methods.base import Method, Output, Params, register, registry
from asirp.select import choose
from asirp.select.decide import _base_parameters, _given_psf_width_field


class _BlurParams(Params):
    blur_px: float | None = Field(None, gt=0, le=50, description="Gaussian PSF width", json_schema_extra={"unit": "px"})
    psf_width_field: ClassVar[str | None] = "blur_px"


class _RenamedPSF(Method):
    """A deconvolution whose PSF width is not called ``psf_sigma``; it returns its input."""

    name = "test_renamed_psf"
    family = "deconvolution"
    task = "returns its input (a stand-in for a deconvolution taking blur_px)"
    needs = frozenset({"psf"})
    Parameters = _BlurParams

    def process(self, frame: Frame, params: Any) -> Output:
        return Output(np.array(frame.data), notes={"blur_px": params.blur_px})


def test_every_method_that_needs_a_psf_takes_the_selectors_width():
    needing = {name: cls for name, cls in registry().items() if "psf" in cls.needs}
    assert needing  # the deconvolutions
    for name, cls in needing.items():
        field = cls.Parameters.psf_width_field
        assert field in cls.Parameters.model_fields, name
        params = _base_parameters(cls, {}, 1.23456, None)
        assert params == {field: 1.235}, name
        assert getattr(cls().validate(**params), field) == pytest.approx(1.235), name
        assert cls.Parameters.given_psf_width(params) == pytest.approx(1.235), name


def test_a_renamed_psf_field_gets_the_width_and_a_users_width_stays():
    assert _base_parameters(_RenamedPSF, {}, 2.0, None) == {"blur_px": 2.0}
    assert _base_parameters(_RenamedPSF, {"blur_px": 3.0, "psf_sigma": 1.0}, 2.0, None) == {"blur_px": 3.0}
    assert _base_parameters(_RenamedPSF, {}, None, None) == {}
    # A model without a PSF-width field gets no width, whatever the method needs.
    assert Params.psf_width(2.0) == {} and Params.given_psf_width({"psf_sigma": 2.0}) is None
    # The user's width counts as given (no uncertain-PSF narrowing) under the method's own field name.
    assert _given_psf_width_field([_RenamedPSF], {"blur_px": 3.0}) == "blur_px"
    assert _given_psf_width_field([_RenamedPSF], {"psf_sigma": 3.0}) is None


def test_the_selector_scores_a_renamed_psf_field_with_its_blur_estimate(monkeypatch):
    monkeypatch.setitem(base._REGISTRY, _RenamedPSF.name, _RenamedPSF)
    grid = synth.mesh_grid_map("AG175", shape=(96, 96), step_um=25, counts=60, seed=3)
    decision = choose(grid.noisy)
    assert decision.family == "deconvolution" and decision.features.blur_sigma_px is not None
    tried = [c for c in decision.candidates if c.method == _RenamedPSF.name]
    assert tried and all(c.parameters["blur_px"] == round(decision.features.blur_sigma_px, 3) for c in tried)
    assert all("psf_sigma" not in c.parameters for c in tried)


def test_register_refuses_a_psf_width_field_the_model_lacks():
    class _Wrong(Params):
        sigma: float = 1.0
        psf_width_field: ClassVar[str | None] = "psf_sigma"

    class _WrongMethod(_RenamedPSF):
        name = "test_wrong_psf_field"
        Parameters = _Wrong

    with pytest.raises(TypeError, match="psf_width_field 'psf_sigma'"):
        register(_WrongMethod)
    assert "test_wrong_psf_field" not in registry()
