"""The Method contract and the registry of the repertoire.

A method declares what it is (name, family, task, the kinds of data it suits, what
it needs, its parameters as a validated pydantic model with units and ranges, and a
rough cost model), so the selector, the CLI, the pipeline and the benchmarks need no
special cases. A new algorithm is one new module with one ``@register`` class.

Third-party packages add methods through the ``asirp.methods`` entry-point group::

    [project.entry-points."asirp.methods"]
    my_method = "my_package.my_module:MyMethod"
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import AsirpError, ParameterError
from ..frame import KINDS, Frame
from ..history import TimedStep
from ..torch_runtime import DeviceName, device_field

Family = Literal["reference", "denoising", "deconvolution", "super_resolution"]
#: Things a method may need; the selector checks them against what a frame offers.
NEEDS = frozenset({"psf", "symmetry", "partners", "training", "gpu_faster", "geometry"})


class Params(BaseModel):
    """Base of every method's parameter model: unknown keys are errors.

    Declare each field with ``Field(default, ge=..., le=..., description=...,
    json_schema_extra={"unit": "px"})`` so that ``asirp methods`` can show units and
    ranges.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    #: The field that takes an isotropic Gaussian PSF width in pixels, in the models of methods
    #: that need a PSF (``"psf"`` in :attr:`Method.needs`); None: the model takes none. The
    #: selector hands its blur estimate to a method through it (:meth:`psf_width`).
    psf_width_field: ClassVar[str | None] = None

    @classmethod
    def psf_width(cls, sigma_px: float) -> dict[str, float]:
        """The parameters that give this model a Gaussian PSF of width ``sigma_px`` (px): empty if it takes none."""
        return {} if cls.psf_width_field is None else {cls.psf_width_field: sigma_px}

    @classmethod
    def given_psf_width(cls, params: dict[str, Any]) -> float | None:
        """The Gaussian PSF width (px) ``params`` give this model, if any."""
        return None if cls.psf_width_field is None else params.get(cls.psf_width_field)


class DeviceParams(Params):
    """Parameters of a method that runs on torch: where (:func:`asirp.torch_runtime.device_field`).

    Composed into a method's model by inheritance (``class MyParams(PSFParams, DeviceParams)``),
    so every torch method spells and checks ``device`` the same way.
    """

    device: DeviceName = device_field()


@dataclass
class Output:
    """What a method's :meth:`Method.process` returns.

    ``data`` is the restored array; ``valid`` the output mask (``None``: same as the
    input when the shape is unchanged, all valid otherwise); ``changes`` are frame
    fields to replace (e.g. ``pixel_size`` after upsampling); ``notes`` go into the
    history step (iterations used, estimated quantities...).
    """

    data: np.ndarray
    valid: np.ndarray | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None


class Method(ABC):
    """A restoration method of the repertoire.

    Subclasses set the class attributes and implement :meth:`process`; :meth:`run`
    validates parameters, times the work and appends the provenance step.
    """

    name: ClassVar[str]
    family: ClassVar[Family]
    #: One-line description of what it does to the data.
    task: ClassVar[str]
    kinds: ClassVar[frozenset[str]] = frozenset(KINDS)
    needs: ClassVar[frozenset[str]] = frozenset()
    Parameters: ClassVar[type[Params]] = Params
    #: Values of the key parameter(s) the adaptive selector tries, each list ordered from
    #: the strongest regularisation to the weakest (so the 1-SE rule can prefer the
    #: former). Empty: the selector uses the defaults.
    search_space: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: False for methods the adaptive selector must not propose: those that cannot run
    #: without user input (e.g. user weights) or whose job it does itself (blind PSF
    #: estimation). Users can still run them by name.
    selectable: ClassVar[bool] = True
    #: The noise models the method's estimator is derived for ("poisson": counts,
    #: "gaussian": least squares). When ground-truth-free scores cannot tell two
    #: candidates apart, the selector prefers the one built for the data's noise.
    noise_models: ClassVar[frozenset[str]] = frozenset({"poisson", "gaussian"})

    @abstractmethod
    def process(self, frame: Frame, params: Any) -> Output:
        """Restore ``frame`` with validated ``params``; must not modify the input."""

    def cost(self, frame_shape: tuple[int, ...], params: Any) -> float:
        """Rough run time in seconds on one CPU core for a frame of this shape.

        The default assumes a few FFT-sized passes; methods override it with their own
        model. Used by the selector to respect a time budget.
        """
        return 2e-8 * float(np.prod(frame_shape)) * max(1.0, np.log2(float(np.prod(frame_shape))))

    def adaptation_cost(self, params: Any) -> float:
        """Seconds of :meth:`cost` spent adapting to the data (fine-tuning), once per frame or series.

        The selector pays it once (:meth:`adapted_for_scoring`), not once per scored copy.
        """
        return 0.0

    def adapted_for_scoring(self, frame: Frame, params: Any) -> dict[str, Any]:
        """Parameters with which the selector scores this method on split copies of ``frame``.

        A method that adapts to the data (fine-tuning a network on the frame) or analyses
        it (the symmetry a denoiser pairs with) does so once here, on the whole frame, and
        returns parameters that reuse the result: the scores then measure the method as
        the user will run it on the whole frame, at the price of one adaptation, which the
        final run reuses (a cache). Other methods return ``params`` as they are (the default).
        """
        return params.model_dump()

    def series_parameters(self, frame: Frame, params: Any) -> dict[str, Any]:
        """Parameters this method would estimate from ``frame`` that hold for a whole series of frames
        like it (one detector, sample and dose: a scan or a stream), to estimate once per series.

        A plan for a series (:func:`asirp.select.make_plan` with ``series=True``, as the
        pipeline makes) pins them on its first frame and estimates them anew when the data
        drift (:meth:`asirp.select.Plan.drift`), instead of paying the estimate on every
        frame (a deconvolution's PSF width, Wiener's noise and object spectra). Returns
        only parameters ``params`` leave to estimation; none by default.
        """
        return {}

    # -- generic machinery ------------------------------------------------------------
    def validate(self, **params: Any) -> Params:
        """Validate keyword parameters into this method's parameter model."""
        try:
            return self.Parameters(**params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'parameters'}: {_describe(err)}" for err in exc.errors()
            )
            raise ParameterError(f"method {self.name!r}: {problems}") from None

    def run(self, frame: Frame, **params: Any) -> Frame:
        """Apply the method to ``frame`` and return a new frame with one more history step."""
        if not isinstance(frame, Frame):
            raise AsirpError(f"method {self.name!r} expects an asirp.Frame, got {type(frame).__name__}")
        validated = self.validate(**params)
        timer = TimedStep(self.name, **validated.model_dump(mode="json"))
        try:
            output = self.process(frame, validated)
        except AsirpError as exc:
            raise exc.about(frame.meta.get("source")) from exc.__cause__
        inputs: tuple[dict[str, str], ...] = ()
        if "source" in frame.meta and "source_sha256" in frame.meta:
            inputs = ({"name": str(frame.meta["source"]), "sha256": str(frame.meta["source_sha256"])},)
        return timer.apply(frame, output.data, notes=output.notes, valid=output.valid, inputs=inputs,
                           weights_sha256=output.weights_sha256, **output.changes)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """A JSON-serialisable description: what ``asirp methods --json`` prints."""
        schema = cls.Parameters.model_json_schema()
        parameters = {}
        for pname, prop in schema.get("properties", {}).items():
            parameters[pname] = {
                key: prop[key]
                for key in ("type", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "unit", "description")
                if key in prop
            }
            if "anyOf" in prop and "type" not in prop:
                parameters[pname]["type"] = " | ".join(str(option.get("type", "?")) for option in prop["anyOf"])
        return {
            "name": cls.name,
            "family": cls.family,
            "task": cls.task,
            "kinds": sorted(cls.kinds),
            "needs": sorted(cls.needs),
            "parameters": parameters,
            "search_space": {key: list(values) for key, values in cls.search_space.items()},
            "selectable": cls.selectable,
            "noise_models": sorted(cls.noise_models),
            "module": cls.__module__,
        }


def _describe(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown parameter"
    return str(error["msg"]).replace("Input should be", "must be")


_REGISTRY: dict[str, type[Method]] = {}
_ENTRY_POINTS_LOADED = False


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the repertoire under ``cls.name``."""
    for attribute in ("name", "family", "task"):
        if not isinstance(getattr(cls, attribute, None), str):
            raise TypeError(f"{cls.__name__} must define the class attribute {attribute!r}")
    width_field = cls.Parameters.psf_width_field
    if width_field is not None and width_field not in cls.Parameters.model_fields:
        raise TypeError(f"{cls.__name__}'s parameters declare psf_width_field {width_field!r}, which is not one of their fields")
    unknown_kinds = set(cls.kinds) - set(KINDS)
    unknown_needs = set(cls.needs) - NEEDS
    if unknown_kinds or unknown_needs:
        raise TypeError(f"{cls.__name__} declares unknown kinds {unknown_kinds} or needs {unknown_needs}")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise TypeError(f"method name {cls.name!r} is already registered by {existing.__module__}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for entry in entry_points(group="asirp.methods"):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plug-in must not break asirp itself
            import warnings

            warnings.warn(f"asirp: could not load method plug-in {entry.name!r}: {exc}", stacklevel=2)
            continue
        if isinstance(loaded, type) and issubclass(loaded, Method) and loaded.name not in _REGISTRY:
            register(loaded)


def registry() -> dict[str, type[Method]]:
    """All registered methods by name (built-ins and entry-point plug-ins)."""
    from . import builtin  # noqa: F401  (registers the built-in repertoire)

    _load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def get_method(name: str) -> Method:
    """An instance of the method registered as ``name``; a clear error otherwise."""
    methods = registry()
    if name not in methods:
        raise ParameterError(f"unknown method {name!r}; available: {', '.join(methods)}")
    return methods[name]()
