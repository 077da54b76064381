"""The bits of HTML the page's messages are made of (escaped: file names and errors are shown as text)."""

from __future__ import annotations

import html

from bokeh.models import Div


def error(text: str) -> str:
    """A one-line error shown beside the control it concerns (empty text: nothing)."""
    return f'<span style="color:#b00020">{html.escape(text)}</span>' if text else ""


def note(text: str) -> str:
    """A one-line remark (what is open, what was written, what to do next)."""
    return f'<span style="color:#555">{html.escape(text)}</span>' if text else ""


def heading(text: str) -> Div:
    """A section title of the controls column."""
    return Div(text=f"<b>{html.escape(text)}</b>", styles={"margin-top": "10px"})
