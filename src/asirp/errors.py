"""Exception types of asirp.

Every error a user can provoke with bad input derives from :class:`AsirpError` and
carries a one-line message that names the file (when there is one) and the problem.
The CLI prints that line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations

from os import PathLike


class AsirpError(Exception):
    """Base class of all errors asirp raises on purpose."""

    def about(self, source: str | PathLike[str] | None) -> AsirpError:
        """This error with ``source`` (the data it is about) at the front of its message.

        Code deep inside a method (a blur estimate, a network's input checks) does not
        know the file it works on; the caller that does adds it here, so that every
        message names the file. Unchanged when there is no source or the message
        already names a file.
        """
        if source is None or str(source) in str(self):
            return self
        if isinstance(self, InputError):
            return self if self.path is not None else type(self)(self.problem, source)
        return type(self)(f"{source}: {self}")


class InputError(AsirpError):
    """Input data that cannot be used: missing, unreadable, wrong shape or dtype, ...

    Parameters
    ----------
    problem:
        What is wrong, in words a beamline user understands.
    path:
        The file the problem is in, if any; it is put at the front of the message.
    """

    def __init__(self, problem: str, path: str | PathLike[str] | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        super().__init__(problem if path is None else f"{path}: {problem}")


class SeveralImagesError(InputError):
    """A file holds several images and nothing in it says which one is meant.

    Raised by the HDF5 reader (no NeXus ``@default``, several NXdata signals or
    detectors); ``asirp info`` catches it to list the candidates instead of failing.
    """


class OutputError(AsirpError):
    """An output that must not be written (would overwrite an input, exists without force)."""


class ParameterError(AsirpError):
    """An unknown method, unknown parameter or out-of-range parameter value."""
