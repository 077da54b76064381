"""``python -m asirp.cli``: the ``asirp`` command."""

import sys

from . import main

sys.exit(main())
