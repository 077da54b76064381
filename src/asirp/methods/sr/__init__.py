"""Super-resolution: upsample by 2 or 4 beyond interpolation, keeping intensities quantitative.

Methods (``asirp.restore(frame, NAME, scale=2, ...)``; ``bicubic`` lives in
:mod:`asirp.methods.baseline`):

* ``lanczos``: Lanczos-3 interpolation (baseline);
* ``zssr``: zero-shot super-resolution trained on the image itself at run time
  (:mod:`.zssr`), with the beam PSF as degradation kernel when known;
* ``fca_sr``: a compact DFCAN-style Fourier-channel-attention network pretrained on
  X-ray-like data, weights shipped with asirp (:mod:`.fca_sr`);
* ``rrdb_sr``: the Real-ESRGAN generator with weights the user supplies (:mod:`.rrdb_sr`).

Shared pieces: the physical forward model (:mod:`.degradation`: Gaussian beam blur,
area averaging, Poisson/Gaussian noise) used for training, for ZSSR and for the
consistency step that makes every network output reproduce its input within the
noise; tiled, batched inference (:mod:`.tiling`); the networks (:mod:`.fca`,
:mod:`.rrdb`); weight files (:mod:`.weights`); training (:mod:`.training`,
``asirp train sr``).
"""

#: The modules registering the methods, imported by :mod:`asirp.methods.builtin`; not
#: here, so that importing :mod:`.cli` for ``asirp train sr`` imports no network.
METHOD_MODULES = ("fca_sr", "lanczos", "rrdb_sr", "zssr")
