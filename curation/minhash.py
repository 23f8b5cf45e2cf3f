"""Text normalisation, exact-dedup keys, MinHash signatures and LSH band keys.

Pure numpy + xxhash; the Beam wiring lives in `pipelines/dedup.py`.

Shingles are word n-grams of the normalised text (FineWeb's recipe: lowercase,
punctuation and diacritics removed, whitespace collapsed). A document with fewer
than `ngram` words is one shingle made of all its words, so short documents
still get a signature and identical short texts still collide. A document whose
normalised text is empty has no signature and is only exact-deduplicated.

Hashing: each word is hashed once with xxh3_64; n-gram hashes are combined from
the word hashes with numpy, then each of `num_perm` permutations maps every
shingle hash through `y ^ (y >> 32)` with `y = a_i * h + b_i mod 2**64` (a_i odd,
so both steps are bijections of the 64-bit space; the xor-shift folds the strong
high bits into the weak low ones) and keeps the minimum. All permutations of all
shingles are one vectorised numpy expression per chunk of shingles.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import xxhash

# Combining the word hashes of one n-gram: h = h * _NGRAM_MULT + w (mod 2**64).
_NGRAM_MULT = np.uint64(0x9E3779B97F4A7C15)
# splitmix64 finaliser constants (Steele et al.): good avalanche for 64-bit keys.
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
# Bound the (num_perm x shingles) work matrix so very long documents stay in cache-sized pieces.
_SHINGLE_CHUNK = 2048

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

    ngram: int = 5
    num_perm: int = 112
    bands: int = 14
    rows: int = 8
    threshold: float | None = None
    seed: int = 1
    verify_threshold: float | None = None
    max_rounds: int = 30
    exact: bool = True
    urls: bool = False

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


def normalized_word_bytes(text: str) -> list[bytes]:
    """Words of `text` lowercased, without punctuation or diacritics, as UTF-8 bytes.

    Works on bytes: one C-level translate for ASCII, then one replace per distinct non-ASCII
    character that must go (UTF-8 is self-synchronising, so a replace never cuts a character).
    """
    if text.isascii():
        return text.lower().encode("ascii").translate(_ASCII_TABLE, _ASCII_DELETE).split()
    text = unicodedata.normalize("NFKD", text).lower()
    data = text.encode("utf-8", "surrogatepass").translate(_ASCII_TABLE, _ASCII_DELETE)
    for char in set(text):
        if char > "\x7f" and (replacement := _non_ascii_replacement(char)) is not None:
            data = data.replace(char.encode("utf-8", "surrogatepass"), replacement)
    return data.split()


def normalize_words(text: str) -> list[str]:
    """Words of `text` lowercased, without punctuation or diacritics."""
    return [w.decode("utf-8", "surrogatepass") for w in normalized_word_bytes(text)]


def normalize_text(text: str) -> str:
    """The normalised text shingles and exact keys are computed from."""
    return " ".join(normalize_words(text))


def exact_text_key(text: str) -> str:
    """128-bit hex key of the normalised text: equal keys mean equal normalised texts."""
    return KEY_TEXT + ":" + xxhash.xxh3_128_hexdigest(b" ".join(normalized_word_bytes(text)))


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


def shingle_hashes(words: list[str] | list[bytes], ngram: int) -> np.ndarray:
    """64-bit hashes of the word n-grams (one hash of all words when there are fewer than `ngram`)."""
    if not words:
        return np.empty(0, dtype=np.uint64)
    if isinstance(words[0], str):
        # One encode of the whole text, then split: cheaper than encoding word by word.
        encoded = " ".join(words).encode("utf-8", "surrogatepass").split(b" ")
    else:
        encoded = words
    word_hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, encoded), dtype=np.uint64, count=len(encoded))
    n = min(ngram, len(words))
    count = len(words) - n + 1
    combined = word_hashes[:count].copy()
    for offset in range(1, n):
        combined = combined * _NGRAM_MULT + word_hashes[offset : offset + count]
    # Mix in n so a short document's single shingle differs from any same-words n-gram hash.
    return _mix64(combined + np.uint64(n))


class MinHasher:
    """Signatures for one MinHashConfig; build once per worker (the permutations are fixed by `seed`)."""

    def __init__(self, config: MinHashConfig):
        self.config = config
        rng = np.random.default_rng(config.seed)
        self._a = (rng.integers(0, 2**64, size=(config.num_perm, 1), dtype=np.uint64) | np.uint64(1))
        self._b = rng.integers(0, 2**64, size=(config.num_perm, 1), dtype=np.uint64)

    def signature_of_hashes(self, hashes: np.ndarray) -> np.ndarray | None:
        """Min over shingles of each permutation; None for no shingles."""
        if hashes.size == 0:
            return None
        signature = np.full(self.config.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        for start in range(0, hashes.size, _SHINGLE_CHUNK):
            chunk = hashes[np.newaxis, start : start + _SHINGLE_CHUNK]  # (1, shingles)
            permuted = self._a * chunk  # (num_perm, shingles); in-place from here to avoid copies
            permuted += self._b
            # Fold the high half into the low half: the affine map's low bits are weak.
            permuted ^= permuted >> _S32
            np.minimum(signature, permuted.min(axis=1), out=signature)
        return signature

    def signature(self, text: str) -> np.ndarray | None:
        """uint64[num_perm] MinHash of `text`'s shingles, or None when the normalised text is empty."""
        return self.signature_of_hashes(shingle_hashes(normalized_word_bytes(text), self.config.ngram))


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of equal signature slots: an unbiased estimate of the shingle-set Jaccard."""
    if a.shape != b.shape:
        raise ValueError(f"signatures have different lengths {a.shape} and {b.shape}")
    return float(np.count_nonzero(a == b)) / a.size


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[tuple[int, int]]:
    """(band index, 64-bit hash of the band's rows) for each band; equal keys make a candidate pair."""
    return [(i, xxhash.xxh3_64_intdigest(signature[i * rows : (i + 1) * rows].tobytes())) for i in range(bands)]


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
