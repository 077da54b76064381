"""Imports every built-in method module so that its ``@register`` classes run.

One line per module; a new algorithm is one new module plus one line here.
"""

from . import baseline  # noqa: F401
from . import deconv  # noqa: F401
