"""Warnings that are bugs, for the property and fuzzing tests (tests/test_properties.py, tests/test_reader_fuzz.py)."""

import warnings
from pathlib import Path

import asirp

#: Where asirp's own code and its tests live: warnings raised elsewhere come from a library.
OWN_FILES = (str(Path(asirp.__file__).parent), str(Path(__file__).parent))


def unexpected(caught: list[warnings.WarningMessage]) -> list[str]:
    """Warnings that are bugs: any RuntimeWarning, and other warnings raised inside a library.

    Deprecation notices of libraries say nothing about the data and are left alone.
    """
    bad = []
    for item in caught:
        if issubclass(item.category, DeprecationWarning | PendingDeprecationWarning | FutureWarning):
            continue
        if issubclass(item.category, RuntimeWarning) or not str(item.filename).startswith(OWN_FILES):
            bad.append(f"{item.category.__name__} at {item.filename}:{item.lineno}: {item.message}")
    return bad
