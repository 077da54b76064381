"""User mask files (``mask=``, ``--mask``): which pixels of a detector not to trust.

The pyFAI and Dioptas convention: a 2-D image of the detector's shape where a
nonzero value masks the pixel (Dioptas ``.mask`` files are TIFF; pyFAI writes EDF;
NumPy ``.npy`` of booleans or integers and HDF5 datasets, ``file.h5::/path``, are
read too). A stack of one image is taken as that image. NaN counts as masked.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from .hdf5 import read_hdf5
from .images import read_fabio, read_tiff
from .sniff import check_input_file, sniff, split_dataset


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """The mask in ``path`` as booleans, True = masked (see the module docstring).

    Raises
    ------
    InputError
        Missing, empty or unreadable file; not one 2-D image; a mask that masks
        every pixel (surely inverted: Fit2D and some beamline tools write 1 = good).
    """
    file_path, dataset = split_dataset(path, None)
    check_input_file(file_path)
    reader = sniff(file_path)
    if reader == "npy":
        try:
            data = np.load(file_path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"unreadable .npy mask ({exc})", file_path) from exc
    elif reader == "hdf5":
        data = read_hdf5(file_path, dataset).data
    elif reader == "tiff":
        data = read_tiff(file_path).data
    else:
        data = read_fabio(file_path).data
    data = np.asarray(data)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2 or data.dtype.kind not in "biuf":
        raise InputError(f"a mask is one 2-D image of numbers (nonzero = masked), got {data.dtype} of shape "
                         f"{data.shape}", path)
    masked = (data != 0) | (np.isnan(data) if data.dtype.kind == "f" else False)
    if masked.all():
        raise InputError("the mask masks every pixel: is it inverted? asirp follows pyFAI/Dioptas, nonzero = masked",
                         path)
    return np.asarray(masked, dtype=bool)
