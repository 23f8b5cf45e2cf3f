"""N-gram counts as DataTrove's Gopher repetition filter makes them (its `find_top_duplicate`
and `find_all_duplicate`), over the words of `reference_units.words`: hashed in numpy, with
the text itself checked wherever two n-grams share a hash."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from winnow.curation.filters import text_units as tu


# Polynomial string hash over code points, modulo 2**64 (numpy's uint64 array arithmetic wraps
# silently; only numpy scalars warn on overflow, and none are used here).
_CHAR_HASH_BASE = 0x100000001B3
_CHAR_HASH_INVERSE = pow(_CHAR_HASH_BASE, -1, 2**64)


def top_ngram_chars(words: Sequence[str], n: int, ids: np.ndarray | None = None) -> int:
    """Characters of the most frequent n-gram (joined by spaces) times its count; 0 without n-grams.

    An n-gram that occurs once still counts, and of equally frequent n-grams the
    one that occurs first wins (as `Counter.most_common(1)` picks it).
    """
    return top_ngram_chars_by_size(words, (n,), ids)[n]


# Bits of an n-gram hash given to its size's index, so that one sort groups the n-grams of
# every size apart (the hash keeps 56 bits: two of a page's n-grams share them with
# probability about 2**-36).
_SIZE_SHIFT = np.uint64(56)


def top_ngram_chars_by_size(words: Sequence[str], sizes: Sequence[int], ids: np.ndarray | None = None) -> dict[int, int]:
    """`top_ngram_chars` for each n of `sizes`, with one sort for all of them."""
    result = dict.fromkeys(sizes, 0)
    sizes = sorted(n for n in set(sizes) if len(words) - n + 1 > 0)
    if not sizes:
        return result
    hashes = tu.ngram_hashes_by_size(tu.word_ids(words) if ids is None else ids, sizes)
    offsets = np.cumsum([0] + [len(h) for h in hashes])
    tagged = np.concatenate([(h >> np.uint64(8)) | np.uint64(index << 56) for index, h in enumerate(hashes)])
    # An unstable sort is three times faster than a stable one; the first position of each
    # run of equal hashes is then the minimum of its positions.
    order = np.argsort(tagged)
    ordered = tagged[order]
    is_start = np.empty(len(ordered), dtype=bool)
    is_start[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=is_start[1:])
    run_starts = np.flatnonzero(is_start)
    run_lengths = np.empty(len(run_starts), dtype=np.int64)
    np.subtract(run_starts[1:], run_starts[:-1], out=run_lengths[:-1])
    run_lengths[-1] = len(ordered) - run_starts[-1]
    run_size = (ordered[run_starts] >> _SIZE_SHIFT).astype(np.int64)
    run_first = np.minimum.reduceat(order, run_starts)
    # Runs are sorted by size index first, so each size's runs are one slice.
    bounds = np.searchsorted(run_size, np.arange(len(sizes) + 1))
    for index, n in enumerate(sizes):
        lengths = run_lengths[bounds[index] : bounds[index + 1]]
        most = int(lengths.max())
        firsts = run_first[bounds[index] : bounds[index + 1]]
        first = int(firsts[lengths == most].min()) - int(offsets[index])
        result[n] = (sum(map(len, words[first : first + n])) + n - 1) * most
    return result


class _Powers:
    """base**k and base**-k modulo 2**64 for k up to the longest text seen, computed once and grown."""

    def __init__(self) -> None:
        self.powers = np.ones(1, dtype=np.uint64)
        self.inverse = np.ones(1, dtype=np.uint64)

    def upto(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.powers) <= length:
            size = max(length + 1, 2 * len(self.powers), 1 << 14)
            self.powers = _power_table(_CHAR_HASH_BASE, size)
            self.inverse = _power_table(_CHAR_HASH_INVERSE, size)
        return self.powers, self.inverse


def _power_table(base: int, size: int) -> np.ndarray:
    table = np.full(size, base, dtype=np.uint64)
    table[0] = 1
    return np.cumprod(table, out=table)


_POWERS = _Powers()


def _prefix_hashes(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(P, B) with P[i] the hash of text[:i] and B[k] = base**k, so text[a:b] hashes to P[b] - P[a] * B[b - a]."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + np.uint64(1)
    length = len(codes)
    powers, inverse = _POWERS.upto(length)
    prefix = np.zeros(length + 1, dtype=np.uint64)
    # P[i] = sum_{j<i} c_j * base**(i-1-j) = base**(i-1) * sum_{j<i} c_j * base**-j.
    sums = np.cumsum(codes * inverse[:length], dtype=np.uint64)
    prefix[1:] = powers[:length] * sums
    return prefix, powers


def duplicate_ngram_chars(words: Sequence[str], sizes: Sequence[int]) -> dict[int, int]:
    """For each n, DataTrove's `find_all_duplicate`: characters of repeated n-grams, scanned greedily.

    The scan walks the word positions; an n-gram (its words joined with no
    separator, so "ab c" and "a bc" are the same n-gram) seen before adds its
    characters and jumps n words ahead, anything else is remembered and the
    scan moves one word on. Only n-grams whose joined text occurs more than once
    can ever be "seen before", so vectorised substring hashes find those
    positions and the Python scan visits only them, comparing the real strings.
    The hashes of every size are checked in one pass: a joined text shared by
    n-grams of two sizes only makes an extra candidate, and a candidate whose text
    occurs once is never "seen before", so extra candidates change nothing.
    """
    result = {n: 0 for n in sizes}
    sizes = [n for n in sizes if len(words) - n + 1 >= 2]
    if not sizes:
        return result
    joined = "".join(words)
    prefix, powers = _prefix_hashes(joined)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    a = np.concatenate([starts[: len(words) - n + 1] for n in sizes])
    b = np.concatenate([ends[n - 1 :] for n in sizes])
    repeated = tu.repeated_mask(prefix[b] - prefix[a] * powers[b - a])
    if repeated is None:
        return result
    offset = 0
    for n in sizes:
        count = len(words) - n + 1
        candidates = np.flatnonzero(repeated[offset : offset + count])
        offset += count
        if len(candidates):
            result[n] = _scan_duplicates(joined, starts, ends, n, candidates.tolist())
    return result


def _scan_duplicates(joined: str, starts: np.ndarray, ends: np.ndarray, n: int, candidates: list[int]) -> int:
    """DataTrove's greedy scan over the candidate positions of n-grams (see `duplicate_ngram_chars`)."""
    seen: set[str] = set()
    next_free = 0
    total = 0
    for position in candidates:
        if position < next_free:
            continue
        gram = joined[starts[position] : ends[position + n - 1]]
        if gram in seen:
            total += len(gram)
            next_free = position + n
        else:
            seen.add(gram)
    return total
