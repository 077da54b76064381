"""Test-session settings.

* The symmetry denoiser's fine-tuning cache goes to a temporary folder, never ~/.cache.
* Hypothesis (tests/test_properties.py, tests/test_reader_fuzz.py) runs under the
  ``asirp`` profile: no example database (nothing written into the checkout), no
  per-example deadline (the first call of a method imports torch or pyFAI), and the
  same examples on every default run, so that a failure there is reproducible; the
  ``slow`` variants turn derandomisation off to explore.
"""

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "asirp",
    database=None,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.load_profile("asirp")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ASIRP_CACHE_DIR", str(tmp_path_factory.mktemp("asirp-cache")))
    yield
    mp.undo()
