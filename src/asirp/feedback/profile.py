"""The ring profile of a frame: a cheap 1-D signature of what changes first when a sample transforms.

With a detector geometry the profile is pyFAI's azimuthal integration in q (nm^-1),
masked pixels excluded, one integrator per geometry and process (building one takes
a noticeable fraction of a second on a large detector). Without a geometry it is
the mean over rings of equal distance (pixels) from the image centre.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from ..frame import Frame


@lru_cache(maxsize=4)
def _integrator(poni_json: str):
    import json

    from ..geometry import Geometry

    # pyFAI integrators cache their engines and are not safe to share between threads.
    return Geometry(json.loads(poni_json)).integrator, threading.Lock()


def ring_profile(frame: Frame, bins: int = 256) -> np.ndarray:
    """Mean intensity per ring, ``bins`` values (float64; 0 where a ring has no valid pixel).

    The signature change detection compares from frame to frame: no solid-angle correction,
    no errors, and it needs no geometry. For physics (q units, Poisson errors, solid angle)
    use :func:`asirp.analysis.azimuthal_profile`.

    Parameters
    ----------
    frame:
        A 2-D frame (the first image of a stack is used).
    bins:
        Number of radial bins, in q (nm^-1) with a geometry, in pixels from the centre otherwise.
    """
    image = frame.images()[0]
    if image.geometry is not None:
        import json

        integrator, lock = _integrator(json.dumps(image.geometry.poni, sort_keys=True, default=str))
        with lock:
            result = integrator.integrate1d(
                np.array(image.data), bins, mask=np.array(~image.valid),  # pyFAI needs writable buffers
                unit="q_nm^-1", correctSolidAngle=False, dummy=None
            )
        profile = np.nan_to_num(np.asarray(result.intensity, dtype=np.float64), nan=0.0)
        return profile
    ny, nx = image.image_shape
    yy, xx = np.indices((ny, nx))
    radius = np.hypot(yy - (ny - 1) / 2.0, xx - (nx - 1) / 2.0)
    index = np.minimum((radius / radius.max() * bins).astype(np.int64), bins - 1)
    valid = image.valid.ravel()
    sums = np.bincount(index.ravel()[valid], weights=image.data.ravel()[valid].astype(np.float64), minlength=bins)
    counts = np.bincount(index.ravel()[valid], minlength=bins)
    return np.divide(sums, counts, out=np.zeros(bins), where=counts > 0)
