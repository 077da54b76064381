"""``asirp view``: a browser viewer to open, look at, restore, compare and export frames.

A Bokeh server application (see docs/viewer.md for why Bokeh). The modules below the
page do one job each and import no Bokeh, so they are tested without a browser:

* :mod:`~asirp.view.images`: what is sent to the browser (orientation, downsampling of
  large frames, masked pixels as NaN, colour limits, differences and ratios, axes,
  regions between the image as read and as shown);
* :mod:`~asirp.view.profiles`: line profiles, contrast, PSNR/SSIM against a reference and
  azimuthal profiles of the raw frame and every result;
* :mod:`~asirp.view.forms`: a method's parameter form from its pydantic model, and the
  typed values back through the CLI's parser and the method's own validation;
* :mod:`~asirp.view.files`: the readable files of a folder, opening a file or an HDF5
  dataset with one-line errors;
* :mod:`~asirp.view.workspace`: the open frame, the results kept, restoring (a region
  too), exporting;
* :mod:`~asirp.view.state`: workspace files (what a page shows, as JSON, and back);
* :mod:`~asirp.view.auth`: the token required when the server listens beyond loopback;
* :mod:`~asirp.view.panels`, :mod:`~asirp.view.page` with :mod:`~asirp.view.restoring`,
  :mod:`~asirp.view.comparing`, :mod:`~asirp.view.saving` and :mod:`~asirp.view.markup`:
  the Bokeh document;
* :mod:`~asirp.view.server`: the embedded Bokeh server; :mod:`~asirp.view.cli`: the command.

Importing this package imports nothing heavy (the ``asirp`` parser builds the
``view`` command from :mod:`~asirp.view.cli` alone).
"""
