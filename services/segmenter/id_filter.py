"""Which words of a model's text are customer ids, without holding the base's ids.

A Bloom filter over the customers' 64-bit id hashes: 16 MiB whatever the base's size,
no false negatives, and false positives near 0.2% per word at ten million customers. A
false positive only makes a naming fall back to the computed words.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.segmenter.features import Strings
from services.segmenter.sampling import Hashes, customer_hashes

# Shorter ids ("12", "ana") are indistinguishable from the figures and words of any text.
MIN_CHECKED_ID_LENGTH = 6
BITS = 2**27
PROBES = 7


class CustomerIdFilter:
    def __init__(self) -> None:
        self._words = np.zeros(BITS // 64, dtype=np.uint64)

    def add(self, customer_ids: Strings, hashes: Hashes) -> None:
        lengths = np.char.str_len(np.asarray(customer_ids, dtype=np.str_))
        positions = np.sort(_positions(hashes[lengths >= MIN_CHECKED_ID_LENGTH]), axis=None)
        if not len(positions):
            return
        words = positions >> 6
        masks = np.left_shift(np.uint64(1), (positions & 63).astype(np.uint64))
        # One OR per distinct word (sorted, so each word is one run): a fancy-indexed |=
        # would keep only one of the bits aimed at the same word.
        starts = np.flatnonzero(np.r_[True, words[1:] != words[:-1]])
        self._words[words[starts]] |= np.bitwise_or.reduceat(masks, starts)

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, str) or len(token) < MIN_CHECKED_ID_LENGTH:
            return False
        positions = _positions(customer_hashes(np.array([token], dtype=object)))
        masks = np.left_shift(np.uint64(1), (positions & 63).astype(np.uint64))
        return bool(np.all(self._words[positions >> 6] & masks))


def _positions(hashes: Hashes) -> npt.NDArray[np.int64]:
    """``PROBES`` bit positions per hash (double hashing: low + i x high, mod ``BITS``)."""
    low = (hashes & np.uint64(0xFFFFFFFF)).astype(np.int64)
    high = ((hashes >> np.uint64(32)) | np.uint64(1)).astype(np.int64)
    probes = np.arange(PROBES, dtype=np.int64)
    positions: npt.NDArray[np.int64] = (low[:, None] + probes * high[:, None]) % BITS
    return positions
