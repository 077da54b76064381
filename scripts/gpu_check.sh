#!/usr/bin/env bash
# The GPU check of issue 18, for a session lent a CUDA machine (the `run` tool of the device).
#
# Here, once, before the device call (the device machine reaches no package registry):
#     python scripts/gpu_wheels.py        # asirp's dependencies the device image lacks, as wheels in .whl/ (~53 MiB)
# Then one device call, carrying the wheels, with a limit that leaves time for a rerun:
#     run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=540)
#
# On the device: a virtual environment over the image's Python (its CUDA PyTorch, numpy, scipy...),
# the wheels and asirp (editable) installed without any network; then
#   1. the environment: GPU, torch, CUDA (env.txt);
#   2. the default test suite, `pytest -q -m "not slow"`, within PYTEST_LIMIT_S (pytest.log, junit.xml);
#   3. `asirp bench gpu --json $OUT/gpu.json` (bench.log, gpu.json).
# Everything is written under $OUT (default ./gpu-check-out when run elsewhere). ~8 minutes in all.
set -u -o pipefail
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
PYTEST_LIMIT_S="${PYTEST_LIMIT_S:-330}"
BENCH_LIMIT_S="${BENCH_LIMIT_S:-150}"
export PYTHONUNBUFFERED=1 ASIRP_PROGRESS=0 MPLBACKEND=Agg

PYTHON=python3
if [ -d .whl ] || ! "$PYTHON" -c "import asirp.cli" 2>/dev/null; then
    "$PYTHON" -m venv --system-site-packages /tmp/asirp-gpu || exit 1
    PYTHON=/tmp/asirp-gpu/bin/python
    if [ -d .whl ]; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl 2>&1 | tee "$OUT/install.log" || exit 1
    fi
    "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | tee -a "$OUT/install.log" || exit 1
    export PATH="/tmp/asirp-gpu/bin:$PATH"
fi

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$PYTHON" -c "import torch, asirp; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-'); print('asirp', asirp.__version__)"
} 2>&1 | tee "$OUT/env.txt"
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)" || { echo "torch sees no CUDA GPU: nothing to check" | tee -a "$OUT/env.txt"; exit 3; }

status=0
# The GPU-specific tests first (they are also part of the whole run): their result is wanted even if the whole run is cut.
timeout 120 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_torch_device.py tests/test_deconv_torch.py \
    tests/test_bench_gpu.py 2>&1 | tee "$OUT/pytest_gpu.log" || status=1
timeout "$PYTEST_LIMIT_S" "$PYTHON" -m pytest -q -m "not slow" -p no:cacheprovider --junitxml="$OUT/junit.xml" \
    2>&1 | tee "$OUT/pytest.log" || status=1
timeout "$BENCH_LIMIT_S" "$PYTHON" -m asirp.cli bench gpu --json "$OUT/gpu.json" -q 2>&1 | tee "$OUT/bench.log" || status=1
echo "gpu_check: exit $status (logs in $OUT)"
exit $status
