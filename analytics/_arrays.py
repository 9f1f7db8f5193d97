"""Small numpy helpers shared by the analytics modules."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

# Use a presence table instead of sorting when the key space is at most this many times the
# number of keys (or small in absolute terms): O(n) and much faster than np.unique's sort.
_DENSE_FACTOR = 8
_DENSE_MINIMUM = 1 << 20


def unique_inverse(keys: IntArray, space: int) -> tuple[IntArray, IntArray]:
    """Sorted distinct keys and, for each key, its position among them.

    Equivalent to ``np.unique(keys, return_inverse=True)`` for keys in ``[0, space)``.
    """
    if keys.size and space <= max(_DENSE_FACTOR * keys.size, _DENSE_MINIMUM):
        present = np.zeros(space, dtype=bool)
        present[keys] = True
        unique = np.flatnonzero(present).astype(np.int64)
        position = np.cumsum(present, dtype=np.int64) - 1
        return unique, position[keys]
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique.astype(np.int64), inverse.astype(np.int64).reshape(-1)


def distinct(keys: IntArray, space: int) -> IntArray:
    """Sorted distinct keys in ``[0, space)``."""
    if keys.size and space <= max(_DENSE_FACTOR * keys.size, _DENSE_MINIMUM):
        present = np.zeros(space, dtype=bool)
        present[keys] = True
        return np.flatnonzero(present).astype(np.int64)
    return np.unique(keys).astype(np.int64)


def has_repeats(keys: IntArray, space: int) -> bool:
    """Whether any key in ``[0, space)`` occurs more than once."""
    if keys.size < 2:
        return False
    if space <= max(_DENSE_FACTOR * keys.size, _DENSE_MINIMUM):
        return bool(np.bincount(keys, minlength=space).max() > 1)
    ordered = np.sort(keys)
    return bool((ordered[1:] == ordered[:-1]).any())
