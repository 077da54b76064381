"""The repertoire of restoration methods (see :mod:`asirp.methods.base` for the contract)."""

from .base import Method, Output, Params, get_method, register, registry

__all__ = ["Method", "Output", "Params", "get_method", "register", "registry"]
