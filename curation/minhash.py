"""Text normalisation, exact-dedup keys, MinHash signatures and LSH band keys.

Pure numpy + xxhash; the Beam wiring lives in `pipelines/dedup/`.

Shingles are word n-grams of the normalised text (FineWeb's recipe: lowercase,
punctuation and diacritics removed, whitespace collapsed). A document with fewer
than `ngram` words is one shingle made of all its words, so short documents
still get a signature and identical short texts still collide. A document whose
normalised text is empty has no signature and is only exact-deduplicated.

Hashing, vectorised over a batch of documents (`MinHasher.signatures`): one
prefix sum over the batch's normalised bytes gives every word a 64-bit
polynomial hash; n-gram hashes combine the word hashes (h = h * M + w) and are
mixed with splitmix64. Each of `num_perm` permutations maps a shingle's high 32
bits x to a_i * x + b_i mod 2**32 (a_i odd, a bijection) and keeps the minimum,
as one (num_perm, shingles) uint32 array per chunk reduced per document with
`np.minimum.reduceat`: no Python call per word or per document. (32-bit lanes
vectorise; numpy's 64-bit multiply does not.) Polynomial hashing mod 2**64 is
not collision-resistant against crafted input; dedup only needs it to separate
natural text.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import xxhash

# Combining the word hashes of one n-gram: h = h * _NGRAM_MULT + w (mod 2**64).
_NGRAM_MULT = np.uint64(0x9E3779B97F4A7C15)
# splitmix64 finaliser constants (Steele et al.): good avalanche for 64-bit keys.
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
# Shingles permuted at once: bounds the (num_perm x shingles) uint32 work matrix (3.7 MB).
_SHINGLE_CHUNK = 8192

# Kinds of exact-dedup keys (also used as key prefixes so a text key can never equal a URL key).
KEY_TEXT = "text"
KEY_URL = "url"


@dataclass(frozen=True)
class MinHashConfig:
    """Dedup settings. Defaults are FineWeb's: 5-word shingles, 112 hashes as 14 bands x 8 rows.

    `threshold`, when set, replaces `bands`/`rows` by the split of `num_perm` that
    minimises the false-positive plus false-negative area around it (as datasketch
    does). `verify_threshold`, when set, drops LSH candidate edges whose estimated
    Jaccard (from the signatures) is below it. `max_rounds` bounds the unrolled
    connected-components rounds; the pipeline fails if they were not enough.
    `exact` dedups identical normalised texts, `urls` identical normalised URLs;
    both run before near-dedup, which only sees the survivors.
    """

    ngram: int = field(default=5, metadata={"help": "words per shingle"})
    num_perm: int = field(default=112, metadata={"help": "hash permutations"})
    bands: int = field(default=14, metadata={"help": "LSH bands"})
    rows: int = field(default=8, metadata={"help": "rows per band"})
    threshold: float | None = field(default=None, metadata={"help": "derive bands x rows for this Jaccard threshold"})
    seed: int = field(default=1, metadata={"help": "permutation seed"})
    verify_threshold: float | None = field(
        default=None, metadata={"help": "drop candidate pairs whose estimated Jaccard is below this"}
    )
    max_rounds: int = field(default=30, metadata={"help": "connected-components rounds of the Beam graph before failing"})
    exact: bool = field(default=True, metadata={"help": "remove exact duplicates of the normalised text"})
    urls: bool = field(default=False, metadata={"help": "also remove documents whose normalised URL was already seen"})

    def __post_init__(self) -> None:
        for name in ("ngram", "num_perm", "bands", "rows", "max_rounds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MinHashConfig.{name} must be a positive integer, got {value!r}")
        if self.threshold is not None:
            if not 0.0 < self.threshold < 1.0:
                raise ValueError(f"MinHashConfig.threshold must be in (0, 1), got {self.threshold!r}")
            bands, rows = optimal_bands_rows(self.threshold, self.num_perm)
            # Frozen dataclass: the derived split is part of the value, so set it once here.
            object.__setattr__(self, "bands", bands)
            object.__setattr__(self, "rows", rows)
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"MinHashConfig: bands x rows = {self.bands} x {self.rows} = {self.bands * self.rows} "
                f"exceeds num_perm = {self.num_perm}"
            )
        if self.verify_threshold is not None and not 0.0 <= self.verify_threshold <= 1.0:
            raise ValueError(f"MinHashConfig.verify_threshold must be in [0, 1], got {self.verify_threshold!r}")

    def detection_probability(self, jaccard: float) -> float:
        """Probability that a pair with this Jaccard similarity shares at least one band."""
        return float(1.0 - (1.0 - jaccard**self.rows) ** self.bands)


def minhash_config_from_mapping(mapping: dict | None, where: str) -> MinHashConfig:
    """MinHashConfig from a recipe's `dedup:` mapping; errors name `where` and the key."""
    from winnow.curation.config import config_from_mapping

    return config_from_mapping(MinHashConfig, mapping, where)


def optimal_bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the false-positive area below
    `threshold` plus the false-negative area above it (equal weights, as datasketch)."""
    below = np.linspace(0.0, threshold, 513)
    above = np.linspace(threshold, 1.0, 513)
    best, best_error = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1.0 - (1.0 - below**r) ** b, below)
            fn = np.trapezoid((1.0 - above**r) ** b, above)
            error = 0.5 * fp + 0.5 * fn
            if error < best_error:
                best, best_error = (b, r), error
    return best


# ASCII: punctuation (Unicode category P*) deleted and the control characters that str.split()
# treats as whitespace turned into spaces, both by one bytes.translate.
_ASCII_DELETE = bytes(c for c in range(128) if unicodedata.category(chr(c))[0] == "P")
_ASCII_TABLE = bytes(0x20 if c < 128 and chr(c).isspace() else c for c in range(256))


@functools.lru_cache(maxsize=65536)
def _non_ascii_replacement(char: str) -> bytes | None:
    """What a non-ASCII character becomes: deleted (punctuation, or a combining mark that NFKD
    split off a letter), a space (Unicode whitespace), or kept (None)."""
    category = unicodedata.category(char)
    if category[0] == "P" or category == "Mn":
        return b""
    if char.isspace():
        return b" "
    return None


def normalized_bytes(text: str) -> bytes:
    """The normalised text as UTF-8 bytes whose words are separated by one or more spaces:
    lowercased, without punctuation or diacritics.

    Works on bytes: one C-level translate for ASCII, then one replace per distinct non-ASCII
    character that must go (UTF-8 is self-synchronising, so a replace never cuts a character).
    """
    if text.isascii():
        return text.lower().encode("ascii").translate(_ASCII_TABLE, _ASCII_DELETE)
    text = unicodedata.normalize("NFKD", text).lower()
    data = text.encode("utf-8", "surrogatepass").translate(_ASCII_TABLE, _ASCII_DELETE)
    for char in set(text):
        if char > "\x7f" and (replacement := _non_ascii_replacement(char)) is not None:
            data = data.replace(char.encode("utf-8", "surrogatepass"), replacement)
    return data


def normalized_word_bytes(text: str) -> list[bytes]:
    """Words of `text` lowercased, without punctuation or diacritics, as UTF-8 bytes."""
    return normalized_bytes(text).split()


def normalize_words(text: str) -> list[str]:
    """Words of `text` lowercased, without punctuation or diacritics."""
    return [w.decode("utf-8", "surrogatepass") for w in normalized_word_bytes(text)]


def normalize_text(text: str) -> str:
    """The normalised text shingles and exact keys are computed from."""
    return " ".join(normalize_words(text))


def exact_text_key(text: str) -> str:
    """128-bit hex key of the normalised text: equal keys mean equal normalised texts."""
    return KEY_TEXT + ":" + xxhash.xxh3_128_hexdigest(b" ".join(normalized_bytes(text).split()))


def normalize_url(url: str | None) -> str:
    """Host (lowercase, no `www.`, no port) + path without trailing slash + query; no scheme or fragment."""
    if not url or not url.strip():
        return ""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return url.strip()
    host = host[4:] if host.startswith("www.") else host
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


def exact_url_key(url: str | None) -> str | None:
    """Key of the normalised URL, or None when the URL is empty (never deduped on URL)."""
    normalized = normalize_url(url)
    if not normalized:
        return None
    return KEY_URL + ":" + xxhash.xxh3_128_hexdigest(normalized.encode("utf-8", "surrogatepass"))


def _mix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _S30)
    x = x * _MIX1
    x = x ^ (x >> _S27)
    x = x * _MIX2
    return x ^ (x >> _S31)


# Polynomial span hashing: hash(bytes[s..e]) = sum_j c_j * B**(e-j) mod 2**64, from one prefix
# sum of c_j * B**-j (B odd, so B**-1 exists mod 2**64). Every shingle of a batch of documents is
# then one vectorised expression, with no Python call per word.
_SPAN_BASE = np.uint64(0x100000001B3 | 1)  # odd
_SPAN_BASE_INV = np.uint64(pow(int(_SPAN_BASE), -1, 2**64))
_SPACE = 0x20
# One (up, down) pair, replaced whole: worker threads (the multi-threaded DirectRunner) read it
# while another grows it, and two separate entries could pair a grown `up` with an old `down`.
_powers: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _span_powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(B**j, B**-j) for j < size, cached and grown by doubling; safe to call from several threads."""
    have = _powers.get("pair")
    if have is None or have[0].size < size:
        n = max(size, 2 * (have[0].size if have is not None else 1 << 16))
        with np.errstate(over="ignore"):
            up = np.cumprod(np.r_[np.uint64(1), np.full(n - 1, _SPAN_BASE, dtype=np.uint64)], dtype=np.uint64)
            down = np.cumprod(np.r_[np.uint64(1), np.full(n - 1, _SPAN_BASE_INV, dtype=np.uint64)], dtype=np.uint64)
        have = _powers["pair"] = (up, down)
    return have


@dataclass(frozen=True)
class Shingled:
    """Shingle hashes of a batch of documents: document d's are hashes[offsets[d]:offsets[d+1]]."""

    hashes: np.ndarray
    offsets: np.ndarray


_WORD_LENGTH_MULT = np.uint64(0xD6E8FEB86659FD93)


def shingle_batch(normalized: list[bytes], ngram: int) -> Shingled:
    """Word n-gram hashes of normalised texts (one shingle of all words when there are fewer
    than `ngram`, none for no words). Equal word n-grams give equal hashes whatever the spacing.

    Byte level: one prefix sum gives every word's polynomial hash. Word level: n-gram hashes
    are h = h * M + w over the n words, then mixed (splitmix64)."""
    docs = len(normalized)
    lengths = np.fromiter(map(len, normalized), dtype=np.int64, count=docs)
    doc_start = np.r_[0, np.cumsum(lengths + 1)[:-1]]
    data = np.frombuffer(b" ".join(normalized), dtype=np.uint8)
    edges = np.diff((data != _SPACE).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive
    up, down = _span_powers(data.size + 1)
    with np.errstate(over="ignore"):
        prefix = np.r_[np.uint64(0), np.cumsum(data * down[: data.size], dtype=np.uint64)]
        word_hashes = (prefix[ends] - prefix[starts]) * up[ends - 1] + (ends - starts).astype(np.uint64) * _WORD_LENGTH_MULT
    words = np.bincount(np.searchsorted(doc_start, starts, side="right") - 1, minlength=docs) if docs else lengths
    first_word = np.cumsum(words) - words
    n = np.minimum(words, ngram)
    counts = np.where(words >= ngram, words - ngram + 1, (words > 0).astype(np.int64))
    offsets = np.r_[0, np.cumsum(counts)]
    shingle_doc = np.repeat(np.arange(docs), counts)
    start_word = first_word[shingle_doc] + np.arange(offsets[-1]) - offsets[:-1][shingle_doc]
    width = n[shingle_doc]
    with np.errstate(over="ignore"):
        # Full-width n-grams at every word position by slices (no gathers), then picked per shingle.
        span = max(word_hashes.size - ngram + 1, 0)
        rolling = word_hashes[:span].copy()
        for k in range(1, ngram):
            rolling = rolling * _NGRAM_MULT + word_hashes[k : k + span]
        combined = np.zeros(start_word.size, dtype=np.uint64)
        full = width == ngram
        combined[full] = rolling[start_word[full]]
        # Documents shorter than ngram: their one shingle combines all of their (fewer) words.
        short = np.flatnonzero(~full)
        if short.size:
            acc = word_hashes[start_word[short]].copy()
            for k in range(1, ngram - 1 if ngram > 1 else 1):
                more = width[short] > k
                acc[more] = acc[more] * _NGRAM_MULT + word_hashes[start_word[short][more] + k]
            combined[short] = acc
        # Mix in n so a short document's single shingle differs from any same-words n-gram hash.
        hashes = _mix64(combined + width.astype(np.uint64))
    return Shingled(hashes=hashes, offsets=offsets)


def shingle_hashes(words: list[str] | list[bytes], ngram: int) -> np.ndarray:
    """64-bit hashes of the word n-grams (one hash of all words when there are fewer than `ngram`)."""
    if not words:
        return np.empty(0, dtype=np.uint64)
    joined = " ".join(words).encode("utf-8", "surrogatepass") if isinstance(words[0], str) else b" ".join(words)
    return shingle_batch([joined], ngram).hashes


class MinHasher:
    """Signatures for one MinHashConfig; build once per worker (the permutations are fixed by `seed`).

    Each shingle's 64-bit hash is cut to its high 32 bits x; permutation i maps x to
    a_i * x + b_i mod 2**32 (a_i odd: a bijection) and keeps the minimum. 32-bit lanes
    vectorise (SIMD multiply) where 64-bit multiplies do not, and with ~10**3 shingles per
    document a 2**-32 chance of a tie is negligible. A batch's shingles are permuted as one
    (shingles, num_perm) array per chunk and reduced per document with `np.minimum.reduceat`.
    Signatures are returned as uint64 arrays (values below 2**32).
    """

    def __init__(self, config: MinHashConfig):
        self.config = config
        rng = np.random.default_rng(config.seed)
        self._a = (rng.integers(0, 2**32, size=(config.num_perm, 1), dtype=np.uint32) | np.uint32(1))
        self._b = rng.integers(0, 2**32, size=(config.num_perm, 1), dtype=np.uint32)

    def _minima(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(documents, num_perm) minima of each document's permuted shingle hashes."""
        docs = offsets.size - 1
        out = np.full((self.config.num_perm, docs), np.iinfo(np.uint32).max, dtype=np.uint32)
        non_empty = np.flatnonzero(np.diff(offsets) > 0)
        starts = offsets[non_empty]
        high = (hashes >> _S32).astype(np.uint32)
        # (num_perm, chunk): the long axis innermost, so multiply, add and reduceat run as long
        # SIMD loops (measured 4x faster than shingles-major); one buffer reused per chunk.
        buffer = np.empty((self.config.num_perm, min(_SHINGLE_CHUNK, max(high.size, 1))), dtype=np.uint32)
        for c0 in range(0, high.size, _SHINGLE_CHUNK):
            c1 = min(c0 + _SHINGLE_CHUNK, high.size)
            lo = max(int(np.searchsorted(starts, c0, side="right")) - 1, 0)
            hi = int(np.searchsorted(starts, c1, side="left"))
            permuted = buffer[:, : c1 - c0]
            np.multiply(self._a, high[np.newaxis, c0:c1], out=permuted)  # wraps mod 2**32
            permuted += self._b
            rows = non_empty[lo:hi]
            minima = np.minimum.reduceat(permuted, np.maximum(starts[lo:hi], c0) - c0, axis=1)
            out[:, rows] = np.minimum(out[:, rows], minima)
        return out.T.astype(np.uint64)

    def signature_of_hashes(self, hashes: np.ndarray) -> np.ndarray | None:
        """Min over shingles of each permutation; None for no shingles."""
        if hashes.size == 0:
            return None
        return self._minima(np.ascontiguousarray(hashes, dtype=np.uint64), np.array([0, hashes.size]))[0]

    def batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(signatures uint64 (len(texts), num_perm), has-signature bool, exact text keys).

        Rows of texts without shingles are all-ones and must be ignored. The keys equal
        `exact_text_key` of each text, from the same normalisation pass."""
        normalized = [normalized_bytes(t) for t in texts]
        shingled = shingle_batch(normalized, self.config.ngram)
        keys = [KEY_TEXT + ":" + xxhash.xxh3_128_hexdigest(b" ".join(t.split())) for t in normalized]
        return self._minima(shingled.hashes, shingled.offsets), np.diff(shingled.offsets) > 0, keys

    def signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(uint64 (len(texts), num_perm), bool (len(texts),)): each text's signature, and which
        texts have one (rows of texts without shingles are all-ones and must be ignored)."""
        shingled = shingle_batch([normalized_bytes(t) for t in texts], self.config.ngram)
        return self._minima(shingled.hashes, shingled.offsets), np.diff(shingled.offsets) > 0

    def signature(self, text: str) -> np.ndarray | None:
        """uint64[num_perm] MinHash of `text`'s shingles, or None when the normalised text is empty."""
        matrix, has = self.signatures([text])
        return matrix[0] if has[0] else None


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of equal signature slots: an unbiased estimate of the shingle-set Jaccard."""
    if a.shape != b.shape:
        raise ValueError(f"signatures have different lengths {a.shape} and {b.shape}")
    return float(np.count_nonzero(a == b)) / a.size


def band_key_matrix(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 (documents, bands): a 64-bit key per band of each signature row.

    The band's `rows` values are folded as h = h * M + x, then mixed (splitmix64); equal bands
    give equal keys, and distinct bands collide with probability about 2**-64.
    """
    signatures = np.atleast_2d(np.asarray(signatures, dtype=np.uint64))
    if bands * rows > signatures.shape[1]:
        raise ValueError(f"bands x rows = {bands * rows} exceeds the signature length {signatures.shape[1]}")
    grid = signatures[:, : bands * rows].reshape(signatures.shape[0], bands, rows)
    keys = np.full(grid.shape[:2], np.uint64(rows), dtype=np.uint64)
    for r in range(rows):
        keys = keys * _NGRAM_MULT + grid[:, :, r]
    # Mix the band index in too, so equal values in different bands give different keys.
    return _mix64(keys + np.arange(bands, dtype=np.uint64) * _MIX1)


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[tuple[int, int]]:
    """(band index, 64-bit key of the band's rows) for each band; equal keys make a candidate pair."""
    return [(i, int(k)) for i, k in enumerate(band_key_matrix(signature[np.newaxis], bands, rows)[0])]


def signature_to_bytes(signature: np.ndarray) -> bytes:
    """Compact little-endian encoding for shuffles."""
    return signature.astype("<u8", copy=False).tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u8").astype(np.uint64, copy=False)


def shingle_set(text: str, ngram: int) -> set[tuple[str, ...]]:
    """The exact shingle set (for measuring true Jaccard in tests and benchmarks)."""
    words = normalize_words(text)
    if not words:
        return set()
    n = min(ngram, len(words))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def true_jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b| (1.0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0
