"""The kinds of data asirp knows (see :class:`asirp.frame.Frame`).

Kept apart from :mod:`asirp.frame`, which needs numpy, so that the command line can
offer ``--kind`` choices without importing it (:mod:`asirp.cli` answers at once).
"""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

Kind = Literal["xrf_map", "diffraction", "scattering", "pdf", "tomo_projection", "image"]
#: The kinds of data asirp knows; methods declare which of them they suit.
KINDS: tuple[str, ...] = get_args(Kind)
#: Kinds whose values are photon counts (Poisson statistics, non-negative).
COUNTING_KINDS: frozenset[str] = frozenset({"xrf_map", "diffraction", "scattering", "pdf"})


def is_kind(value: object) -> TypeGuard[Kind]:
    """Whether ``value`` is one of :data:`KINDS` (for a type checker: narrows a ``str`` to :data:`Kind`).

    >>> is_kind("xrf_map"), is_kind("photo")
    (True, False)
    """
    return value in KINDS
