"""The benchmark suites shipped with asirp; importing this package registers them.

One module per suite, each decorated with :func:`asirp.bench.register_suite`. Add a
suite by adding its module to the imports below. Keep heavy or optional imports
(torch, a reconstruction library) inside the suite function, so that one missing
library does not hide every other suite from ``asirp bench --list``.
"""

from . import deconv_suite, denoise_suite, io_suite, online_suite, restore_suite, select_suite, sr_suite, tomo_suite, xrf_suite  # noqa: F401
