"""What the viewer page's mixins use of one another, declared once for the type checker.

:class:`~asirp.view.page.ViewerPage` is built from mixins (:mod:`~asirp.view.restoring`,
:mod:`~asirp.view.comparing`, :mod:`~asirp.view.saving`), each of which uses widgets and
methods that the page or another mixin defines (:mod:`~asirp.view.tomography_controls` too). :class:`PageParts`, their common base,
declares those with their types; it defines nothing at run time (annotations only, and
method signatures seen by the type checker alone), so a part a mixin uses but nobody
defines is still an ``AttributeError``, never a silent default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar

    import numpy as np
    from bokeh.document import Document
    from bokeh.models.widgets.buttons import Button
    from bokeh.models.widgets.groups import CheckboxGroup, RadioButtonGroup
    from bokeh.models.widgets.inputs import Checkbox, Select, TextInput
    from bokeh.models.widgets.markups import Div
    from bokeh.models.widgets.sliders import RangeSlider, Slider
    from bokeh.server.callbacks import PeriodicCallback

    from ..frame import Frame
    from ..progress import Observation
    from .images import Axes, Orientation
    from .panels import ImagePanels
    from .profiles import Line
    from .state import XrfMap
    from .workspace import Region, Result, Workspace

    T = TypeVar("T")


class PageParts:
    """The parts of the page its mixins share (see the module's description)."""

    # The page (page.py): its document, workspace, panels and state.
    doc: Document
    workspace: Workspace
    panels: ImagePanels
    line: Line | None
    first_point: tuple[float, float] | None
    busy: tuple[str, float] | None
    _busy_callback: PeriodicCallback | None
    _azimuthal: dict[int, tuple[np.ndarray, np.ndarray] | None]
    region: Region | None
    _opening: bool
    _ready: bool
    # The page's open and look widgets.
    open_message: Div
    datasets: Select
    frame_slider: Slider
    palette: Select
    scale: Select
    clip: RangeSlider
    threshold: TextInput
    right_mode: RadioButtonGroup
    axis_units: Select
    rotate: Select
    flips: CheckboxGroup
    reduction: Select
    # The restore controls' (restoring.py), the comparisons' (comparing.py) and the outputs' (saving.py).
    restore_button: Button
    cancel_button: Button
    _cancel: threading.Event
    _observation: Observation | None
    _progress: tuple[int, int] | None
    described: dict[str, dict[str, Any]]
    _stage: str
    use_region: Checkbox
    status: Div
    restore_message: Div
    reference_path: TextInput
    export_button: Button

    if TYPE_CHECKING:

        @property
        def orientation(self) -> Orientation: ...
        @property
        def axes(self) -> Axes: ...
        @property
        def shown_result(self) -> Result | None: ...
        def _open_path(self, path: str) -> None: ...
        def _show_image(self, index: int) -> None: ...
        def _full_resolution(self, frame: Frame) -> np.ndarray: ...
        def _refresh_images(self) -> None: ...
        def _refresh_detail(self) -> None: ...
        def _refresh_results(self, select: int | None = None) -> None: ...
        def _refresh_profiles(self) -> None: ...
        def _refresh_azimuthal(self) -> None: ...
        def _refresh_contrast(self) -> None: ...
        def _set_region(self, region: Region | None) -> None: ...
        def _load_reference(self) -> None: ...
        def _tick(self) -> None: ...
        def _set_progress(self, done: int, total: int) -> None: ...
        def _in_thread(self, label: str, work: Callable[[], T], done: Callable[[T | None, str, float], None], *,
                       cancel: threading.Event | None = None) -> None: ...
        def _when_idle(self, callback: Callable[[], None]) -> None: ...
        def _show_frame(self, frame: Frame, path: str) -> None: ...
        def _open_tomography(self, path: str, saved: Mapping[str, Any] | None = None) -> None: ...
        def _tomography_state(self) -> dict[str, Any] | None: ...
        def _reopen_map(self, saved: XrfMap) -> None: ...
        def _xrf_state(self) -> XrfMap | None: ...
