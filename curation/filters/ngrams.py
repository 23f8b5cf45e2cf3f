"""N-gram counts as DataTrove's Gopher repetition filter makes them (its `find_top_duplicate`
and `find_all_duplicate`), over the words of `reference_units.words`.

Both work on the words joined by single spaces (no word holds whitespace, so
that string is the word sequence): n-grams are substrings between word
boundaries, hashed in numpy from one table of prefix hashes, and the text itself
is checked wherever a decision rests on two n-grams sharing a hash.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Polynomial string hash over code points, modulo 2**64 (numpy's uint64 array arithmetic wraps
# silently; only numpy scalars warn on overflow, and none are used here).
_CHAR_HASH_BASE = 0x100000001B3
_CHAR_HASH_INVERSE = pow(_CHAR_HASH_BASE, -1, 2**64)
_SPACE = 32
_LOW_56_BITS = np.uint64((1 << 56) - 1)


@dataclass(frozen=True)
class Words:
    """A text's words joined by single spaces, and where each word starts and ends in that string."""

    spaced: str
    codes: np.ndarray  # uint64 code point + 1 of each character of `spaced`
    starts: np.ndarray  # int64 index of each word's first character
    ends: np.ndarray  # int64 index just past each word's last character

    def __len__(self) -> int:
        return len(self.starts)


def words_of(spaced: str) -> Words:
    """The `Words` of a space-joined word string ("" has no words)."""
    if not spaced:
        empty = np.zeros(0, dtype=np.int64)
        return Words(spaced, np.zeros(0, dtype=np.uint64), empty, empty)
    points = np.frombuffer(spaced.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    spaces = np.flatnonzero(points == _SPACE)
    starts = np.empty(len(spaces) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = spaces + 1
    ends = np.empty(len(spaces) + 1, dtype=np.int64)
    ends[:-1] = spaces
    ends[-1] = len(points)
    return Words(spaced, points.astype(np.uint64) + np.uint64(1), starts, ends)


def _as_words(words: Words | Sequence[str]) -> Words:
    return words if isinstance(words, Words) else words_of(" ".join(words))


def top_ngram_chars(words: Words | Sequence[str], n: int) -> int:
    """Characters of the most frequent n-gram (joined by spaces) times its count; 0 without n-grams.

    An n-gram that occurs once still counts, and of equally frequent n-grams the
    one that occurs first wins (as `Counter.most_common(1)` picks it).
    """
    return top_ngram_chars_by_size(words, (n,))[n]


def top_ngram_chars_by_size(words: Words | Sequence[str], sizes: Sequence[int]) -> dict[int, int]:
    """`top_ngram_chars` for each n of `sizes`, with one hash sort for all of them."""
    words = _as_words(words)
    result = dict.fromkeys(sizes, 0)
    sizes = sorted(n for n in set(sizes) if len(words) - n + 1 > 0)
    if not sizes:
        return result
    prefix, powers = _prefix_hashes(words.codes)
    starts, ends = words.starts, words.ends
    runs = _Runs.of([_ngram_hashes(prefix, powers, starts, ends, n) for n in sizes])
    offset = 0
    for index, n in enumerate(sizes):
        count = len(words) - n + 1
        most, first, members = runs.top(index, offset)
        if most > 1 and not _same_texts(words, n, members):
            most, first = _top_exactly(words, n)  # two n-grams share a hash: count the texts
        result[n] = int(ends[first + n - 1] - starts[first]) * most
        offset += count
    return result


def _ngram_hashes(prefix: np.ndarray, powers: np.ndarray, starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """The hash of the text from the start of each word to the end of the n-th word from it."""
    a, b = starts[: len(starts) - n + 1], ends[n - 1 :]
    return prefix[b] - prefix[a] * powers[b - a]


@dataclass(frozen=True)
class _Runs:
    """Runs of equal n-gram hashes, of every size at once, with their positions."""

    positions: np.ndarray  # n-gram positions (in the concatenated sizes) in hash order
    run_starts: np.ndarray
    run_lengths: np.ndarray
    bounds: np.ndarray  # the runs of size index i are run_starts[bounds[i]:bounds[i + 1]]

    @staticmethod
    def of(hashes: list[np.ndarray]) -> _Runs:
        ordered, positions = _sorted_with_positions(hashes, tag_sizes=True)
        is_start = np.empty(len(ordered), dtype=bool)
        is_start[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=is_start[1:])
        run_starts = np.flatnonzero(is_start)
        run_lengths = np.empty(len(run_starts), dtype=np.int64)
        np.subtract(run_starts[1:], run_starts[:-1], out=run_lengths[:-1])
        run_lengths[-1] = len(ordered) - run_starts[-1]
        run_size = (ordered[run_starts] >> np.uint64(56)).astype(np.int64)
        bounds = np.searchsorted(run_size, np.arange(len(hashes) + 1))
        return _Runs(positions, run_starts, run_lengths, bounds)

    def top(self, index: int, offset: int) -> tuple[int, int, np.ndarray]:
        """(largest run length of size index `index`, the earliest position of such a run, that run's positions).

        Positions are counted from `offset`, where the size's hashes start.
        """
        lo, hi = self.bounds[index], self.bounds[index + 1]
        lengths = self.run_lengths[lo:hi]
        most = int(lengths.max())
        tied_starts = self.run_starts[np.flatnonzero(lengths == most) + lo]
        # Positions ascend within a run: a run's first position is its smallest.
        start = tied_starts[np.argmin(self.positions[tied_starts])]
        members = self.positions[start : start + most] - offset
        return most, int(members[0]), members


def _sorted_with_positions(hashes: list[np.ndarray], tag_sizes: bool) -> tuple[np.ndarray, np.ndarray]:
    """(the hashes' keys in ascending order, the position of each in the concatenated hashes).

    Each key is a hash with its position in the low bits, so one plain sort (not
    an argsort, twice as slow) orders by hash and then by position. The key keeps
    the hash's low bits (texts that differ in their last characters differ there),
    all but the top byte when `tag_sizes` puts the index of each array's size there.
    Two texts may then share a key's hash part: callers check the texts.
    """
    total = sum(map(len, hashes))
    shift = np.uint64(max(total - 1, 1).bit_length())
    parts = []
    for index, h in enumerate(hashes):
        key = h << shift
        if tag_sizes:
            key &= _LOW_56_BITS
            key |= np.uint64(index << 56)
        parts.append(key)
    keys = np.concatenate(parts)
    keys |= np.arange(total, dtype=np.uint64)
    keys.sort()
    low = np.uint64((1 << int(shift)) - 1)
    positions = (keys & low).astype(np.int64)
    keys &= ~low
    return keys, positions


def _same_texts(words: Words, n: int, positions: np.ndarray) -> bool:
    """True when the n-grams at `positions` are one text.

    Checking the winning run is enough: hashes only ever merge texts, so when that
    run is one text no text occurs more often, and none as often occurs earlier.
    """
    spaced, starts, ends = words.spaced, words.starts, words.ends
    return len({spaced[starts[p] : ends[p + n - 1]] for p in positions.tolist()}) == 1


def _top_exactly(words: Words, n: int) -> tuple[int, int]:
    """(count, first position) of the most frequent n-gram, counted by its text (no hashing)."""
    spaced, starts, ends = words.spaced, words.starts.tolist(), words.ends.tolist()
    grams = [spaced[starts[i] : ends[i + n - 1]] for i in range(len(starts) - n + 1)]
    gram, most = Counter(grams).most_common(1)[0]
    return most, grams.index(gram)


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


def _prefix_hashes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, B) with P[i] the hash of the first i codes and B[k] = base**k: codes[a:b] hash to P[b] - P[a] * B[b - a]."""
    length = len(codes)
    powers, inverse = _POWERS.upto(length)
    prefix = np.zeros(length + 1, dtype=np.uint64)
    # P[i] = sum_{j<i} c_j * base**(i-1-j) = base**(i-1) * sum_{j<i} c_j * base**-j.
    sums = np.cumsum(codes * inverse[:length], dtype=np.uint64)
    prefix[1:] = powers[:length] * sums
    return prefix, powers


def duplicate_ngram_chars(words: Words | Sequence[str], sizes: Sequence[int]) -> dict[int, int]:
    """For each n, DataTrove's `find_all_duplicate`: characters of repeated n-grams, scanned greedily.

    The scan walks the word positions; an n-gram (its words joined with no
    separator, so "ab c" and "a bc" are the same n-gram) seen before adds its
    characters and jumps n words ahead, anything else is remembered and the
    scan moves one word on. Only n-grams whose joined text occurs more than once
    can ever be "seen before", so vectorised substring hashes find those
    positions and the Python scan visits only them, comparing the real strings.
    The hashes of every size are checked in one pass: a joined text shared by
    n-grams of two sizes only makes an extra candidate, and a candidate whose text
    occurs once is never "seen before", so extra candidates change nothing. Only
    positions that `_may_repeat` are hashed per size.
    """
    words = _as_words(words)
    result = {n: 0 for n in sizes}
    sizes = sorted(n for n in set(sizes) if len(words) - n + 1 >= 2)
    if not sizes:
        return result
    # The words joined with no separator: drop the spaces, and shift each word's bounds back
    # by the spaces before it.
    joined_codes = words.codes[words.codes != np.uint64(_SPACE + 1)]
    prefix, powers = _prefix_hashes(joined_codes)
    before = np.arange(len(words), dtype=np.int64)
    starts, ends = words.starts - before, words.ends - before
    maybe = _may_repeat(prefix, powers, starts, ends, sizes[0])
    if maybe is None:
        return result
    by_size = [maybe[: np.searchsorted(maybe, len(words) - n + 1)] for n in sizes]
    repeated = _repeated_mask([_hashes_at(prefix, powers, starts, ends, n, at) for n, at in zip(sizes, by_size)])
    if repeated is None:
        return result
    # The joined text, decoded from its codes (cheaper than `str.replace` on a non-ASCII text).
    joined = (joined_codes - np.uint64(1)).astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    offset = 0
    for n, at in zip(sizes, by_size):
        candidates = at[repeated[offset : offset + len(at)]]
        offset += len(at)
        if len(candidates):
            result[n] = _scan_duplicates(joined, starts, ends, n, candidates.tolist())
    return result


# Characters of the joined text from a word's start that `_may_repeat` compares.
_PREFIX_CHARS = 12


def _may_repeat(prefix: np.ndarray, powers: np.ndarray, starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray | None:
    """Ascending word positions where an n-gram (or a longer one) may repeat; None when there are none.

    If the joined m-gram at i equals the one at j (m >= n), the joined text from
    both starts agrees for that many characters: for the first `_PREFIX_CHARS`
    of them, or the whole n-gram at i is shorter than that. So only positions
    whose next `_PREFIX_CHARS` characters also follow another word start, or
    whose n-gram is shorter, can hold a repeat: one sort of one hash per
    position, instead of one per position and size.
    """
    count = len(starts) - n + 1
    at = starts[:count]
    maybe = ends[n - 1 :] - at < _PREFIX_CHARS  # the short n-grams
    # Every position whose prefix fits in the text, short or not: a long n-gram's repeat
    # may start at a position whose own n-gram is short.
    fits = np.flatnonzero(at + _PREFIX_CHARS < len(prefix))
    ahead = at[fits]
    repeated = _repeated_mask([prefix[ahead + _PREFIX_CHARS] - prefix[ahead] * powers[_PREFIX_CHARS]])
    if repeated is not None:
        maybe[fits[repeated]] = True
    positions = np.flatnonzero(maybe)
    return positions if len(positions) else None


def _hashes_at(
    prefix: np.ndarray, powers: np.ndarray, starts: np.ndarray, ends: np.ndarray, n: int, at: np.ndarray
) -> np.ndarray:
    """The hash of the joined n-gram at each position of `at`."""
    a, b = starts[at], ends[at + n - 1]
    return prefix[b] - prefix[a] * powers[b - a]


def _repeated_mask(hashes: list[np.ndarray]) -> np.ndarray | None:
    """Mask of the entries of the concatenated `hashes` whose key occurs more than once; None when none does."""
    ordered, positions = _sorted_with_positions(hashes, tag_sizes=False)
    equal_next = ordered[1:] == ordered[:-1]
    if not equal_next.any():
        return None
    repeated_sorted = np.zeros(len(ordered), dtype=bool)
    repeated_sorted[1:] |= equal_next
    repeated_sorted[:-1] |= equal_next
    mask = np.zeros(len(ordered), dtype=bool)
    mask[positions[repeated_sorted]] = True
    return mask


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
