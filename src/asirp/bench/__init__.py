"""Benchmark suites: same data, several methods, one run; a Markdown table and JSON.

Suites measure quality against synthetic ground truth and speed as a ratio to a named
baseline timed in the same run. Built-in suites live in :mod:`asirp.bench.suites` and
register themselves on import; ``asirp bench --list`` shows them.

>>> from asirp.bench import run_suite
>>> print(run_suite("io", quick=True).to_markdown())  # doctest: +SKIP
"""

from .env import environment
from .harness import BenchContext, SuiteReport, register_suite, run_suite, suites

__all__ = ["BenchContext", "SuiteReport", "environment", "register_suite", "run_suite", "suites"]
