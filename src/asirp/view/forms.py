"""A method's parameter form, generated from its pydantic model, and the typed values back.

The form is described here without any widget library (:class:`FieldSpec`); the page
turns each spec into a Bokeh widget. Values come back as the text a user typed and go
through the CLI's own ``KEY=VALUE`` parser (JSON when it is JSON, else a string) and
the method's own validation, so the page and ``asirp restore -p`` accept the same
values and refuse bad ones with the same one-line message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from ..methods.base import get_method
from ..parameters import parse_assignment

Widget = Literal["choice", "text"]

_BOUNDS = (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))


@dataclass(frozen=True)
class FieldSpec:
    """One parameter as a form field.

    ``widget`` is ``"choice"`` for enumerations and booleans (``choices`` are the
    texts offered, ``""`` meaning "not set" for an optional one) and ``"text"``
    otherwise (numbers, lengths such as ``50um``, lists as JSON). ``text`` is the
    default as the field shows it (``""`` for None); ``title`` names the field with
    its unit; ``hint`` gives the type and bounds; ``description`` is the model's.
    """

    name: str
    widget: Widget
    text: str
    choices: tuple[str, ...]
    title: str
    hint: str
    description: str
    optional: bool


def as_text(value: Any) -> str:
    """A parameter value as typed in the form: strings bare, None empty, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _options(prop: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The alternatives of a property's schema (``anyOf`` of an Optional, or the property itself)."""
    return list(prop["anyOf"]) if "anyOf" in prop else [prop]


def _field(name: str, prop: Mapping[str, Any]) -> FieldSpec:
    options = _options(prop)
    optional = any(option.get("type") == "null" for option in options)
    typed = [option for option in options if option.get("type") != "null"]
    types = [str(option.get("type", "value")) for option in typed]
    enum = next((option["enum"] for option in [prop, *typed] if "enum" in option), None)
    bounds = [f"{symbol} {option[key]}" for option in typed for key, symbol in _BOUNDS if key in option]
    unit = prop.get("unit")
    choices: tuple[str, ...] = ()
    if enum is not None:
        choices = tuple(as_text(value) for value in enum)
    elif types == ["boolean"]:
        choices = ("true", "false")
    if choices and optional:
        choices = ("", *choices)
    hint = " or ".join(types) + (f" {', '.join(bounds)}" if bounds else "") + ("; empty: default" if optional else "")
    return FieldSpec(
        name=name,
        widget="choice" if choices else "text",
        text=as_text(prop.get("default")),
        choices=choices,
        title=f"{name} [{unit}]" if unit else name,
        hint=hint,
        description=str(prop.get("description", "")),
        optional=optional,
    )


def form_spec(model: type[BaseModel]) -> list[FieldSpec]:
    """The fields of a parameter model, in declaration order (what ``asirp methods`` lists)."""
    schema = model.model_json_schema()
    return [_field(name, prop) for name, prop in schema.get("properties", {}).items()]


def method_form(method: str) -> list[FieldSpec]:
    """The form of a registered method (none for ``auto``, which chooses its parameters)."""
    if method == "auto":
        return []
    return form_spec(get_method(method).Parameters)


def parse_form(method: str, texts: Mapping[str, str]) -> dict[str, Any]:
    """Typed parameters from the form's texts, validated as ``asirp restore -m METHOD -p ...`` would be.

    Empty fields and fields still showing their default are left out (the method's
    default applies, and the result's label names only what the user set). Raises
    :class:`~asirp.errors.ParameterError` with the CLI's message for a bad value.
    """
    defaults = {spec.name: spec.text for spec in method_form(method)}
    given = {name: text for name, text in texts.items() if text.strip() not in ("", defaults.get(name))}
    params = dict(parse_assignment(f"{name}={text}") for name, text in given.items())
    if method != "auto":
        get_method(method).validate(**params)
    return params
