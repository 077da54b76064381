"""Test-session settings: the symmetry denoiser's fine-tuning cache goes to a temporary folder, never ~/.cache."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ASIRP_CACHE_DIR", str(tmp_path_factory.mktemp("asirp-cache")))
    yield
    mp.undo()
