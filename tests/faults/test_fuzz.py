"""Property tests on arbitrary input for the parts of Winnow that read untrusted bytes.

Already covered elsewhere (not repeated here): `iter_archive` on arbitrary
bytes and on single-byte damage (tests/curation/test_archive.py), and `triage`
on arbitrary payloads (tests/curation/test_triage.py). Added here: the WARC
reader's resynchronisation on multi-record damage (seekable and forward-only
streams), the extraction wrapper, language ID and the token shard reader.

Runs are short in CI. For a longer hunt set WINNOW_FUZZ_EXAMPLES, e.g.

    WINNOW_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -q tests/faults/test_fuzz.py
"""
from __future__ import annotations

import gzip
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.curation.test_archive import NonSeekable as _ForwardOnly
from tests.faults import corpus
from winnow.curation.archive import ArchiveRecord, ReadFailure, iter_archive
from winnow.curation.extract import ExtractConfig, Extractor
from winnow.curation.stages import STAGE_EXTRACT
from winnow.curation.langid import LanguageConfig, LanguageIdentifier, decide_language
from winnow.curation.triage import Rejection
from winnow.training.shard_format import HEADER_BYTES, MAGIC, ShardFormatError, open_shard, read_header

FUZZ_EXAMPLES = int(os.environ.get("WINNOW_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_RECORDS = [corpus.good_record("fuzz", n) for n in range(4)]

_PLAIN = b"".join(_RECORDS)
_GZIP = b"".join(corpus.gzip_member(r) for r in _RECORDS)




# --------------------------------------------------------------------------- WARC reader resync


@FUZZ
@given(
    gzipped=st.booleans(),
    seekable=st.booleans(),
    edits=st.lists(
        st.tuples(st.floats(0, 1, allow_nan=False), st.integers(0, 40), st.binary(max_size=60)), min_size=1, max_size=4
    ),
)
def test_damaged_multi_record_archives_never_raise_and_move_forwards(gzipped, seekable, edits):
    data = bytearray(_GZIP if gzipped else _PLAIN)
    for where, cut, insert in edits:
        at = int(where * len(data))
        data[at : at + cut] = insert
    stream = io.BytesIO(bytes(data)) if seekable else _ForwardOnly(bytes(data))
    items = list(iter_archive(stream, "fuzz.warc", max_payload_bytes=100_000))
    assert items and all(isinstance(i, (ArchiveRecord, ReadFailure)) for i in items)
    offsets = [i.offset for i in items if isinstance(i, ArchiveRecord)]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), "no record is read twice"
    # Each damaged spot costs at most a few items: the reader never invents records.
    records = [i for i in items if isinstance(i, ArchiveRecord)]
    assert len(records) <= len(_RECORDS) + len(edits)


@FUZZ
@given(st.integers(1, len(_RECORDS) - 1), st.binary(min_size=1, max_size=500), st.booleans())
def test_garbage_before_a_record_loses_at_most_that_record(index, garbage, gzipped):
    """Garbage in front of record `index` costs at most that record, never the ones after it.

    (Garbage before the first record makes the whole file "not an archive": that is the sniff's call.)
    """
    pieces = [corpus.gzip_member(r) for r in _RECORDS] if gzipped else list(_RECORDS)
    pieces[index] = garbage + pieces[index]
    items = list(iter_archive(io.BytesIO(b"".join(pieces)), "fuzz.warc", max_payload_bytes=100_000))
    urls = {i.url for i in items if isinstance(i, ArchiveRecord)}
    for n in range(len(_RECORDS)):
        if n != index:
            assert corpus.page_url("fuzz", n) in urls


# --------------------------------------------------------------------------- extraction


@pytest.fixture(scope="module")
def extractor():
    with Extractor(ExtractConfig(timeout_s=None)) as ex:
        yield ex


# Text as a buggy decoder upstream could hand over: any character, lone surrogates and NULs included.
_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
        st.just("\x00"),
    ),
    max_size=2000,
)

_HTMLISH = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(["<html>", "<body>", "<p>", "</p>", "<div>", "</div>", "<!--", "-->", "<script>", "&#0;",
                         "&#xD800;", "&amp", "<![CDATA[", "<?xml version='1.0'?>", "\x00", "\ud800", "<table><tr><td>"]),
    ),
    max_size=60,
).map("".join)


@FUZZ
@given(html=st.one_of(_ANY_TEXT, _HTMLISH), url=_ANY_TEXT)
def test_extract_returns_text_or_rejection(extractor, html, url):
    result = extractor.extract(html, url=url)
    assert isinstance(result, (str, Rejection))
    if isinstance(result, Rejection):
        assert result.stage == STAGE_EXTRACT and result.reason and result.detail
    else:
        assert result.strip()
        result.encode("utf-8")  # no lone surrogate survives extraction


# --------------------------------------------------------------------------- language ID


@pytest.fixture(scope="module")
def identifier():
    return LanguageIdentifier(LanguageConfig(keep=("en",), min_score=0.5))


@FUZZ
@given(_ANY_TEXT)
def test_language_id_never_raises(identifier, text):
    language, score = identifier.predict(text)
    assert isinstance(language, str) and 0.0 <= score <= 1.0
    verdict = decide_language(identifier.config, {"language": language, "language_score": score})
    assert verdict is None or verdict[1]


# --------------------------------------------------------------------------- token shards


_HEADERS = st.one_of(
    st.binary(max_size=HEADER_BYTES + 8),
    # Mostly-valid headers with fuzzed fields, so the reader's later checks are reached too.
    st.tuples(st.sampled_from([MAGIC, b"WINNOWTX"]), st.binary(min_size=HEADER_BYTES - 8, max_size=HEADER_BYTES - 8))
    .map(lambda parts: parts[0] + parts[1]),
)


@FUZZ
@given(header=_HEADERS, body=st.binary(max_size=200))
def test_shard_reader_raises_only_shard_format_error(header, body):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.tok"
        path.write_bytes(header + body)
        try:
            parsed = read_header(path)
            tokens = open_shard(path)
        except ShardFormatError as exc:
            assert str(path) in str(exc), "the error names the file"
            return
        assert len(tokens) == parsed.token_count
        del tokens  # release the memory map before the folder goes


def test_gzip_fixture_is_readable():
    """The fuzzers' base archives are themselves clean (otherwise the properties prove little)."""
    for data in (_PLAIN, _GZIP, gzip.decompress(_GZIP)):
        items = list(iter_archive(io.BytesIO(data), "base.warc"))
        assert [type(i) for i in items] == [ArchiveRecord] * len(_RECORDS)
