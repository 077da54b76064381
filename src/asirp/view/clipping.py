"""The look's percentile slider and threshold field, one implementation for the offline page and the live page.

Both pages colour an image the same way: colour limits at the slider's percentiles of
its valid pixels (:func:`~asirp.view.images.colour_limits`) and pixels below the typed
threshold not drawn (:class:`~asirp.view.panels.Look`'s ``threshold``). This module
builds the two widgets, reads them, and says beside the field when what is typed is
not a number; each page decides what a change redraws.
"""

from __future__ import annotations

from collections.abc import Callable

from bokeh.models.widgets.inputs import TextInput
from bokeh.models.widgets.markups import Div
from bokeh.models.widgets.sliders import RangeSlider

from . import images
from .markup import error


class ClipControls:
    """A percentile slider (``clip``), a threshold field (``threshold``) and the field's message; ``changed`` is called on a change.

    The slider calls back when let go (``value_throttled``), so dragging it redraws once.
    """

    def __init__(self, changed: Callable[[], None], clip_title: str) -> None:
        low, high = images.DEFAULT_CLIP
        self.clip = RangeSlider(title=clip_title, start=0, end=100, step=0.1, value=(low, high), width=320,
                                css_classes=["asirp-clip"])  # fmt: skip
        self.threshold = TextInput(title="threshold (pixels below it are not drawn; empty: none)", width=320,
                                   css_classes=["asirp-threshold"])  # fmt: skip
        self.threshold_message = Div(text="", css_classes=["asirp-threshold-message"])
        self.threshold.on_change("value", lambda attr, old, new: changed())
        self.clip.on_change("value_throttled", lambda attr, old, new: changed())

    @property
    def percentiles(self) -> tuple[float, float]:
        """The slider's (low, high) percentiles."""
        low, high = self.clip.value
        return float(low), float(high)

    def threshold_value(self) -> float | None:
        """The threshold typed (None: none, or not a number, which is said beside the field)."""
        text = self.threshold.value.strip()
        try:
            value = float(text) if text else None
        except ValueError:
            self.threshold_message.text = error(f"threshold: {text!r} is not a number")
            return None
        self.threshold_message.text = ""
        return value
