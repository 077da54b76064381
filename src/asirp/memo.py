"""A small memo of array computations by content: the same frame analysed several times.

Selecting a method for one frame analyses it again and again: the features, each
symmetry-based candidate, the final run find the same beam centre and fit the same
detector response. Those searches are deterministic and cost seconds per megapixel,
so their results are remembered for the last few inputs, keyed by a digest of the
arrays (blake2b of their bytes, ~10 ms per Mpx). ``functools`` caches need hashable
arguments, which numpy arrays are not; this is that cache for arrays.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


def array_digest(*arrays: np.ndarray) -> bytes:
    """A digest of the arrays' dtypes, shapes and contents."""
    digest = hashlib.blake2b(digest_size=20)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.digest()


class ContentMemo(Generic[T]):
    """The results of the last ``size`` computations, by key (thread-safe; the newest kept).

    The results are shared between callers: treat them as read-only.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The remembered result for ``key``, or ``compute()`` remembered (computed outside the lock)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        result = compute()
        with self._lock:
            self._items[key] = result
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
