"""Tests for winnow.curation.triage: record selection and charset decoding."""
from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.curation.archive import ArchiveRecord, iter_archive
from winnow.curation.triage import (
    BINARY_CONTENT,
    EMPTY_PAYLOAD,
    HTTP_STATUS,
    NOT_HTML,
    NOT_RESPONSE,
    STAGE_DECODE,
    STAGE_TRIAGE,
    TOO_LARGE,
    UNDECODABLE,
    Decoded,
    Rejection,
    TriageConfig,
    decode_html,
    normalize_charset,
    triage,
)

CONFIG = TriageConfig()
PAGE = "<!DOCTYPE html><html><head><title>Café</title></head><body><p>Déjà vu, naïve café.</p></body></html>"


def record(payload: bytes = PAGE.encode(), **fields) -> ArchiveRecord:
    base = dict(
        source="mem", offset=0, record_type="response", warc_record_id="<urn:uuid:1>", url="http://e.com/",
        date="2024-01-01T00:00:00Z", http_status=200, content_type="text/html; charset=utf-8",
        identified_payload_type=None, payload=payload, payload_truncated=False, content_length=len(payload),
    )
    base.update(fields)
    return ArchiveRecord(**base)


def rejected(result, reason: str, stage: str = STAGE_TRIAGE) -> Rejection:
    assert isinstance(result, Rejection), result
    assert (result.stage, result.reason) == (stage, reason), result
    return result


def test_utf8_html_is_decoded():
    result = triage(record(), CONFIG)
    assert result == Decoded("html", PAGE, "utf-8")


@pytest.mark.parametrize("record_type", ["request", "metadata", "warcinfo", "revisit", "resource", "unknown"])
def test_non_response_records_are_rejected(record_type):
    result = rejected(triage(record(record_type=record_type), CONFIG), NOT_RESPONSE)
    assert record_type in result.detail


@pytest.mark.parametrize("status", [301, 302, 404, 500])
def test_non_200_status_is_rejected(status):
    result = rejected(triage(record(http_status=status), CONFIG), HTTP_STATUS)
    assert str(status) in result.detail


def test_allowed_statuses_are_configurable_and_missing_status_is_rejected():
    assert isinstance(triage(record(http_status=203), TriageConfig(allowed_statuses=(200, 203))), Decoded)
    rejected(triage(record(http_status=None, content_type="text/dns"), CONFIG), HTTP_STATUS)


@pytest.mark.parametrize("content_type", ["image/png", "text/css", "application/pdf", "text/plain", "application/json"])
def test_non_html_content_type_is_rejected(content_type):
    result = rejected(triage(record(content_type=content_type), CONFIG), NOT_HTML)
    assert content_type in result.detail


def test_identified_payload_type_wins_over_content_type():
    rejected(triage(record(identified_payload_type="application/pdf"), CONFIG), NOT_HTML)
    xhtml = record(content_type="text/plain", identified_payload_type="application/xhtml+xml")
    assert isinstance(triage(xhtml, CONFIG), Decoded)


@pytest.mark.parametrize("content_type", [None, "", "application/octet-stream"])
def test_missing_content_type_is_sniffed(content_type):
    assert isinstance(triage(record(content_type=content_type), CONFIG), Decoded)
    assert isinstance(triage(record(b"\n  <html><body>x</body></html>", content_type=content_type), CONFIG), Decoded)
    rejected(triage(record(b"just some text", content_type=content_type), CONFIG), NOT_HTML)


def test_too_large_is_rejected():
    rejected(triage(record(payload_truncated=True, content_length=50_000_000), CONFIG), TOO_LARGE)
    result = rejected(triage(record(), TriageConfig(max_payload_bytes=10)), TOO_LARGE)
    assert "10 bytes" in result.detail


@pytest.mark.parametrize("payload", [b"", b"  \r\n\t "])
def test_empty_payload_is_rejected(payload):
    rejected(triage(record(payload), CONFIG), EMPTY_PAYLOAD)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        b"<html>" + b"\x00\x01\x02\x03" * 500,
        b"<html>" + bytes(range(1, 9)) * 300 + b"text",
    ],
)
def test_binary_content_claiming_html_is_rejected(payload):
    rejected(triage(record(payload), CONFIG), BINARY_CONTENT)


def test_utf16_with_bom_is_not_binary():
    result = triage(record(codecs.BOM_UTF16_LE + PAGE.encode("utf-16-le"), content_type="text/html"), CONFIG)
    assert isinstance(result, Decoded)
    assert result.content == PAGE
    assert result.charset == "utf-16"


def test_declared_http_charset_is_used():
    page = "<html><body>Привет, мир! Это тестовая страница.</body></html>"
    result = triage(record(page.encode("cp1251"), content_type="text/html; charset=windows-1251"), CONFIG)
    assert (result.content, result.charset) == (page, "cp1251")


def test_meta_charset_is_used_when_http_has_none():
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"></head><body>こんにちは世界、日本語のページです。</body></html>'
    result = triage(record(page.encode("shift_jis"), content_type="text/html"), CONFIG)
    assert result.content == page
    assert result.charset == "cp932"  # Shift_JIS is read as its Windows superset, as browsers do


def test_lying_latin1_header_on_utf8_bytes_decodes_as_utf8():
    result = triage(record(PAGE.encode(), content_type="text/html; charset=ISO-8859-1"), CONFIG)
    assert (result.content, result.charset) == (PAGE, "utf-8")


def test_lying_utf8_header_on_legacy_bytes_is_detected():
    page = "<html><body>" + "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 20 + "</body></html>"
    result = triage(record(page.encode("cp1251"), content_type="text/html; charset=utf-8"), CONFIG)
    assert result.content == page


def test_unknown_charset_label_falls_back():
    result = triage(record(PAGE.encode(), content_type="text/html; charset=x-no-such-charset"), CONFIG)
    assert result.content == PAGE


def test_nul_bytes_and_surrogates_are_stripped():
    payload = PAGE.encode().replace(b"vu", b"v\x00u")
    assert triage(record(payload), CONFIG).content == PAGE
    text, _ = decode_html(b"<html>\xed\xa0\x80ok</html>", "utf-8")
    assert "\ud800" not in triage(record(b"<html>\xed\xa0\x80ok</html>"), CONFIG).content
    assert text.endswith("ok</html>")


def test_lone_surrogates_from_utf7_are_stripped():
    result = triage(record(b"<html>+2AA-ok</html>", content_type="text/html; charset=utf-7"), CONFIG)
    assert (result.content, result.charset) == ("<html>ok</html>", "utf-7")


def test_undecodable_bytes_are_rejected():
    noise = bytes((i * 37 + 128) % 128 + 128 for i in range(4000))  # high bytes only, no charset fits
    result = triage(record(b"<html>" + noise, content_type="text/html; charset=utf-8"), CONFIG)
    if isinstance(result, Decoded):
        pytest.skip(f"charset detection found {result.charset} for the noise; nothing to assert")
    rejected(result, UNDECODABLE, STAGE_DECODE)


def test_undecodable_wet_text_is_rejected():
    conversion = record(b"\xff\xfe\xfa" * 100, record_type="conversion", http_status=None, content_type="text/plain")
    rejected(triage(conversion, CONFIG), UNDECODABLE, STAGE_DECODE)


def test_wet_conversion_is_text():
    conversion = record("Texte extrait.\n".encode(), record_type="conversion", http_status=None,
                        content_type="text/plain")
    assert triage(conversion, CONFIG) == Decoded("text", "Texte extrait.\n", "utf-8")
    rejected(triage(replace(conversion, payload=b""), CONFIG), EMPTY_PAYLOAD)


def test_normalize_charset():
    assert normalize_charset("UTF8") == "utf-8"
    assert normalize_charset("iso-8859-1") == "cp1252"
    assert normalize_charset("gb2312") == "gb18030"
    assert normalize_charset("bogus") is None
    assert normalize_charset(None) is None


@settings(max_examples=50, deadline=None)
@given(
    payload=st.binary(max_size=3000),
    content_type=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(
        ["text/html", "text/html; charset=utf-8", "text/html; charset=bogus", "text/html;charset=", "image/png"])),
    record_type=st.sampled_from(["response", "conversion", "request"]),
    status=st.one_of(st.none(), st.integers(100, 599)),
)
def test_triage_never_raises(payload, content_type, record_type, status):
    result = triage(record(payload, content_type=content_type, record_type=record_type, http_status=status),
                    TriageConfig(allowed_statuses=tuple(range(100, 600))))
    assert isinstance(result, (Decoded, Rejection))
    if isinstance(result, Decoded):
        assert "\x00" not in result.content
        result.content.encode("utf-8")  # no lone surrogates


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=500), st.sampled_from(["utf-8", "cp1252", "utf-16", "gb18030"]))
def test_declared_charset_round_trips(text, charset):
    page = f"<html><body>{text}</body></html>"
    try:
        payload = page.encode(charset)
    except UnicodeEncodeError:
        return
    result = triage(record(payload, content_type=f"text/html; charset={charset}"), CONFIG)
    if isinstance(result, Rejection):
        # Only pages that are mostly control characters may be refused, and as binary.
        assert result.reason == BINARY_CONTENT
        return
    if charset == "cp1252" and not payload.isascii() and _is_utf8(payload):
        # Documented precedence: valid non-ASCII UTF-8 beats a declared single-byte charset
        # (e.g. "Â\xa0" in cp1252 is the UTF-8 encoding of a no-break space).
        page = payload.decode("utf-8")
    assert result.content == page.replace("\x00", "").encode("utf-8", "ignore").decode()


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ----------------------------------------------------------------------------- shared data


def _triage_file(shared_data, name):
    path = shared_data / "warc" / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with open(path, "rb") as stream:
        return [(item, triage(item, CONFIG)) for item in iter_archive(stream, str(path))]


@pytest.mark.parametrize(
    "name, documents",
    [("aut-warc-example.warc.gz", 94), ("aut-arc-example.arc.gz", 94), ("resiliparse-warcfile.warc.gz", 16),
     ("dolma-sample-0000.warc.gz", 22), ("dolma-sample-0001.warc.gz", 15), ("cc-whirlwind.warc.gz", 1),
     ("aut-warc-example.docs.warc.gz", 0), ("aut-warc-example.txt.warc.gz", 0)],
)
def test_shared_documents_per_file(shared_data, name, documents):
    results = _triage_file(shared_data, name)
    decoded = [r for _, r in results if isinstance(r, Decoded)]
    assert len(decoded) == documents
    assert all(d.kind == "html" and d.content for d in decoded)


def test_shared_office_documents_are_rejected_with_reasons(shared_data):
    results = _triage_file(shared_data, "aut-warc-example.docs.warc.gz")
    reasons = Counter(r.reason for _, r in results)
    assert reasons == {NOT_RESPONSE: 12, NOT_HTML: 9}


def test_shared_clueweb_quirk_decodes_as_japanese(shared_data):
    results = _triage_file(shared_data, "resiliparse-clueweb-quirk.warc.gz")
    decoded = [r for _, r in results if isinstance(r, Decoded)]
    assert len(decoded) == 29
    assert {d.charset for d in decoded} == {"euc_jp"}
    kana = re.compile("[\u3040-\u30ff]")
    assert all(len(kana.findall(d.content)) > 50 and "\ufffd" not in d.content for d in decoded)


def test_shared_wet_record_is_text(shared_data):
    results = _triage_file(shared_data, "cc-whirlwind.warc.wet.gz")
    decoded = [r for _, r in results if isinstance(r, Decoded)]
    assert len(decoded) == 1 and decoded[0].kind == "text"
    assert len(decoded[0].content) > 500
