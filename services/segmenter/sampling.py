"""A fixed-size sample of the base, the same whatever order the base is read in.

Each customer id is hashed to 64 bits (a polynomial over its code points, then the
splitmix64 finaliser; vectorised with numpy, and stable across processes and machines,
unlike Python's ``hash``); the sample is the ``size`` customers with the smallest hashes
(a bottom-k sketch). It is chosen while the base streams past, in memory bounded by
``size``, and a smaller sample is a prefix of a larger one, so the candidates scored for k
are among those the winner is fitted on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.segmenter.features import Floats, Strings

Hashes = npt.NDArray[np.uint64]


def customer_hashes(customer_ids: Strings) -> Hashes:
    with np.errstate(over="ignore"):
        text = np.asarray(customer_ids, dtype=np.str_)
        points = text.view(np.uint32).reshape(len(text), -1).astype(np.uint64)
        hashes = np.full(len(text), 0xCBF29CE484222325, dtype=np.uint64)
        for column in points.T:
            # Padding is trailing zeros: skipping them makes a hash independent of the
            # longest id it happens to share a chunk with.
            hashes = np.where(column != 0, hashes * np.uint64(0x100000001B3) + column, hashes)
        return _mixed(hashes)


def _mixed(hashes: Hashes) -> Hashes:
    """splitmix64's finaliser: every input bit reaches every output bit."""
    z = (hashes ^ (hashes >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed: Hashes = z ^ (z >> np.uint64(31))
    return mixed


class BaseSample:
    """The customers with the ``size`` smallest hashes seen so far, with their raw features."""

    def __init__(self, size: int, features: int) -> None:
        self._size = size
        self._hashes: Hashes = np.empty(0, dtype=np.uint64)
        self._ids: Strings = np.empty(0, dtype=object)
        self._rows: Floats = np.empty((0, features))
        # Rows past this hash can never enter the sample once it is full.
        self._ceiling = np.uint64(np.iinfo(np.uint64).max)

    def offer(self, hashes: Hashes, customer_ids: Strings, raw: Floats) -> None:
        keep = hashes <= self._ceiling
        if not keep.any():
            return
        self._hashes = np.concatenate([self._hashes, hashes[keep]])
        self._ids = np.concatenate([self._ids, customer_ids[keep]])
        self._rows = np.concatenate([self._rows, raw[keep]])
        # Trimmed only once twice the size has piled up: a trim per chunk would re-sort
        # the whole sample for every chunk.
        if len(self._hashes) >= 2 * self._size:
            self._trim()

    def rows(self, size: int) -> Floats:
        """Raw features of the ``size`` smallest-hash customers, in customer-id order."""
        self._trim()
        first = np.argsort(self._hashes, kind="stable")[:size]
        by_id = first[np.argsort(self._ids[first], kind="stable")]
        chosen: Floats = self._rows[by_id]
        return chosen

    def _trim(self) -> None:
        if len(self._hashes) <= self._size:
            return
        kept = np.argpartition(self._hashes, self._size - 1)[: self._size]
        self._hashes, self._ids, self._rows = self._hashes[kept], self._ids[kept], self._rows[kept]
        self._ceiling = self._hashes.max()
