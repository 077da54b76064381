"""The bits of HTML the page's messages are made of (escaped: file names and errors are shown as text)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from bokeh.models.widgets.markups import Div

#: The options of a Bokeh ``Select`` or ``MultiSelect``: values, or (value, label) pairs.
Options = list[str | tuple[Any, str]]


def options(items: Iterable[str | tuple[str, str]]) -> Options:
    """``items`` as a widget's options (a list typed as Bokeh's stubs declare it: a plain list of values is inferred narrower)."""
    return list(items)


def error(text: str) -> str:
    """A one-line error shown beside the control it concerns (empty text: nothing)."""
    return f'<span style="color:#b00020">{html.escape(text)}</span>' if text else ""


def note(text: str) -> str:
    """A one-line remark (what is open, what was written, what to do next)."""
    return f'<span style="color:#555">{html.escape(text)}</span>' if text else ""


def heading(text: str) -> Div:
    """A section title of the controls column."""
    return Div(text=f"<b>{html.escape(text)}</b>", styles={"margin-top": "10px"})
