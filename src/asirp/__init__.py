"""asirp: Adaptable Synchrotron Image Restoration Pipeline."""

__version__ = "0.1.0"
