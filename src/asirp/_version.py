"""The version of asirp: one source for the package, its metadata (pyproject) and every provenance record."""

__version__ = "0.1.0"
