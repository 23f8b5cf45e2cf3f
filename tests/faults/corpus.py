"""A fault corpus: broken and hostile archive files derived from good ones, each with its expected outcome.

Every case is a function `case_xxx(folder) -> FaultCase` that writes its file(s)
into `folder` and says, for every item the reader yields from them, what the
curation pipeline (recipe `extract`) must do with it: keep it, reject it at a
stage with a reason, or record an error of a type. Good records are placed
around the bad one, so a test can check that the damage stays local.

Good pages are built here from a small English text bank (and a few
sentences per language for the charset cases) as raw WARC/1.1 bytes: the
faults need byte-level control (a lying Content-Length, a cut gzip member)
that a WARC writer library would refuse to produce. Randomness (cut offsets)
comes from an explicit seed, so a failure reproduces.

Heavy cases (200 MB record, gzip bomb) stream their bytes to disk in chunks:
neither writing nor reading them needs the record in memory.
"""
from __future__ import annotations

import html
import random
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from winnow.curation.archive import (
    ERROR_CORRUPT_GZIP,
    ERROR_EMPTY_FILE,
    ERROR_MALFORMED_RECORD,
    ERROR_NOT_AN_ARCHIVE,
    ERROR_TRUNCATED_GZIP,
    ERROR_TRUNCATED_RECORD,
)
from winnow.curation.extract import EXTRACTION_CRASHED, EXTRACTION_TIMEOUT, HTML_TOO_LARGE
from winnow.curation.stages import STAGE_EXTRACT, STAGE_READ, STAGE_TRIAGE
from winnow.curation.triage import BINARY_CONTENT, TOO_LARGE

OUTCOME_KEPT = "kept"
OUTCOME_REJECTED = "rejected"
OUTCOME_ERROR = "error"


HOST = "faults.example"
WARC_DATE = "2024-06-01T12:00:00Z"
_CHUNK = 1 << 20

_ENGLISH = (
    "The harbour town repaired its old stone pier after the winter storms had damaged the eastern wall.",
    "Fishermen said the new wall would protect their boats during the long autumn gales that arrive each year.",
    "The council paid for the work with money saved over five years and a grant from the regional government.",
    "Engineers used granite from a quarry twenty miles inland, cut to match the blocks laid two centuries ago.",
    "Local children watched the cranes from the beach and some of them wrote letters to the construction crew.",
    "A small museum near the pier will open an exhibition about the history of the harbour next summer.",
    "Visitors can already walk to the end of the pier again, where a new bench looks out over the bay.",
    "The mayor thanked the workers at a short ceremony and promised that the lighthouse would be painted next.",
)

# charset -> (language, sentences): text the charset can encode, so the page decodes back to exactly this.
_FOREIGN = {
    "windows-1252": ("fr", (
        "Le petit marché du village a rouvert ses portes après les travaux de l'été dernier.",
        "Les habitants étaient ravis de retrouver les étals de fromages, de légumes et de pâtisseries.",
        "Le maire a déclaré que la rénovation avait coûté moins cher que prévu grâce aux bénévoles.",
        "Une fête est prévue en décembre avec des chants, du vin chaud et des crêpes pour les enfants.",
    )),
    "iso-8859-2": ("pl", (
        "Mieszkańcy małego miasteczka świętowali otwarcie nowej biblioteki w zabytkowym budynku.",
        "Księgozbiór liczy ponad dziesięć tysięcy tomów, a dzieci mają osobną salę z zabawkami.",
        "Burmistrz podziękował wszystkim, którzy przekazali książki i pomagali przy remoncie.",
        "Biblioteka będzie otwarta codziennie oprócz niedzieli, także w godzinach wieczornych.",
    )),
    "shift_jis": ("ja", (
        "港町の古い桟橋は冬の嵐で壊れたため、春から修理工事が始まりました。",
        "漁師たちは新しい防波堤が秋の強い風から船を守ってくれると話しています。",
        "工事には地元の石が使われ、二百年前の石垣と同じ形に切りそろえられました。",
        "来年の夏には桟橋の近くに港の歴史を紹介する小さな博物館が開かれる予定です。",
    )),
    "euc-jp": ("ja", (
        "山あいの村では今年も秋祭りが開かれ、たくさんの人が神社に集まりました。",
        "子どもたちは太鼓をたたき、大人たちは新米で作ったおにぎりを配りました。",
        "村長は来年も祭りを続けるために若い人の協力が必要だと話しました。",
        "夜になると提灯に明かりがともり、川沿いの道はとてもにぎやかになりました。",
    )),
    "gb18030": ("zh", (
        "这个小城今年春天修复了河边的老石桥，附近的居民都非常高兴。",
        "工人们用了和两百年前一样的石头，桥的样子几乎没有改变。",
        "市政府说，修桥的钱来自五年的节约和省里的补助。",
        "到了晚上，很多人在桥上散步，看河水和远处的灯光。",
    )),
    "big5": ("zh", (
        "這個小鎮今年秋天重新開放了河邊的老市場，居民們都很高興。",
        "市場裡有新鮮的蔬菜、水果和剛出爐的麵包，每天早上都很熱鬧。",
        "鎮長說，整修市場的經費來自居民的捐款和政府的補助。",
        "到了週末，很多家庭會帶孩子來這裡買東西和聊天。",
    )),
    "koi8-r": ("ru", (
        "В небольшом городе на берегу реки открылась новая библиотека для детей и взрослых.",
        "В библиотеке более десяти тысяч книг, а для самых маленьких читателей есть отдельный зал.",
        "Глава города поблагодарил жителей, которые помогали с ремонтом старого здания.",
        "Библиотека будет работать каждый день, кроме воскресенья, в том числе вечером.",
    )),
    "windows-1251": ("ru", (
        "Жители деревни отметили открытие нового моста через реку после двух лет строительства.",
        "Раньше людям приходилось ехать в объезд почти тридцать километров до ближайшего города.",
        "Строители использовали местный камень, и мост хорошо вписался в старый пейзаж.",
        "Вечером на берегу устроили праздник с музыкой, пирогами и горячим чаем для всех.",
    )),
}


@dataclass(frozen=True)
class Expectation:
    """What must become of one item read from a case's files.

    Kept and rejected records are matched by `url`; errors by `source` (the
    file name) and `kind` (the error type). `kind` is the rejection reason or
    the error type; `stage` the pipeline stage. `text_contains` (kept only) is
    a phrase the extracted text must contain, `detail_contains` a word the
    rejection detail or error message must contain (it names the problem).
    """

    outcome: str
    source: str
    url: str = ""
    stage: str = ""
    kind: str = ""
    text_contains: str = ""
    detail_contains: str = ""


@dataclass(frozen=True)
class FaultCase:
    name: str
    description: str
    paths: tuple[Path, ...]
    expectations: tuple[Expectation, ...]
    heavy: bool = False
    # Rejections also accepted for the case's expectations, for outcomes that depend on the
    # machine's speed (a slow runner can hit the extraction timeout on a heavy page).
    alternatives: tuple[tuple[str, str], ...] = field(default=())


# --------------------------------------------------------------------------- building blocks


def page_url(case: str, n: int) -> str:
    return f"https://{HOST}/{case}/{n}"


def english_html(seed: int, charset: str = "utf-8", extra_body: str = "") -> str:
    """A page with a header, navigation and a four-paragraph article that trafilatura extracts."""
    rng = random.Random(seed)
    sentences = list(_ENGLISH)
    rng.shuffle(sentences)
    paragraphs = "".join(
        f"<p>{html.escape(' '.join(sentences[i : i + 2]))} (Report {seed}.{i}.)</p>\n" for i in range(0, 8, 2)
    )
    return _page(f"Harbour news {seed}", paragraphs + extra_body, charset, "en")


def _page(title: str, body: str, charset: str, lang: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="{charset}"><title>{html.escape(title)}</title></head>\n'
        f'<body><header><nav><a href="/">Home</a> <a href="/news">News</a></nav></header>\n'
        f"<main><article><h1>{html.escape(title)}</h1>\n{body}</article></main>\n"
        "<footer><p>Copyright 2024 Harbour Gazette</p></footer></body></html>\n"
    )


def foreign_html(charset: str) -> tuple[str, str]:
    """(page, a sentence of it) in a language the charset can encode."""
    lang, sentences = _FOREIGN[charset]
    paragraphs = "".join(f"<p>{html.escape(s)} {html.escape(s)}</p>\n" for s in sentences)
    return _page(sentences[0][:20], paragraphs, charset, lang), sentences[1]


def http_block(body: bytes, content_type: str = "text/html; charset=utf-8", status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


def warc_head(url: str, length: int, record_id: str, record_type: str = "response") -> bytes:
    return (
        "WARC/1.1\r\n"
        f"WARC-Type: {record_type}\r\n"
        f"WARC-Record-ID: {record_id}\r\n"
        f"WARC-Date: {WARC_DATE}\r\n"
        f"WARC-Target-URI: {url}\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode("utf-8")


def record_id_for(url: str) -> str:
    return f"<urn:uuid:{zlib.crc32(url.encode()):08x}-0000-4000-8000-{len(url):012d}>"


def warc_record(url: str, block: bytes, record_id: str | None = None, length: int | None = None) -> bytes:
    declared = len(block) if length is None else length
    return warc_head(url, declared, record_id or record_id_for(url)) + block + b"\r\n\r\n"


def good_record(case: str, n: int) -> bytes:
    url = page_url(case, n)
    return warc_record(url, http_block(english_html(n * 7919 + len(case)).encode("utf-8")))


def gzip_member(data: bytes) -> bytes:
    """One gzip member (WARC files compress each record separately)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def kept(source: str, url: str, text: str = "") -> Expectation:
    return Expectation(OUTCOME_KEPT, source, url=url, text_contains=text)


def rejected(source: str, url: str, stage: str, reason: str, detail: str = "") -> Expectation:
    return Expectation(OUTCOME_REJECTED, source, url=url, stage=stage, kind=reason, detail_contains=detail)


def error(source: str, error_type: str, detail: str = "", url: str = "") -> Expectation:
    return Expectation(OUTCOME_ERROR, source, url=url, stage=STAGE_READ, kind=error_type, detail_contains=detail)


def _good_set(case: str, source: str, numbers: Iterable[int]) -> list[Expectation]:
    return [kept(source, page_url(case, n), f"(Report {n * 7919 + len(case)}.0.)") for n in numbers]


# --------------------------------------------------------------------------- light cases


def case_truncated_gzip(folder: Path, seed: int = 0) -> FaultCase:
    """Five gzip members; the fourth is cut at a seeded random offset inside it."""
    name = f"truncated_gzip_{seed}"
    members = [gzip_member(good_record(name, n)) for n in range(5)]
    rng = random.Random(seed)
    cut = rng.randrange(1, len(members[3]))
    path = folder / f"{name}.warc.gz"
    path.write_bytes(b"".join(members[:3]) + members[3][:cut])
    expected = _good_set(name, path.name, range(3)) + [error(path.name, ERROR_TRUNCATED_GZIP, "gzip")]
    return FaultCase(name, f"gzip member 4 of 5 cut after {cut} of {len(members[3])} bytes", (path,), tuple(expected))


def case_truncated_plain(folder: Path) -> FaultCase:
    name = "truncated_plain"
    data = b"".join(good_record(name, n) for n in range(3))
    path = folder / f"{name}.warc"
    path.write_bytes(data[: len(data) - 500])
    expected = _good_set(name, path.name, range(2)) + [error(path.name, ERROR_TRUNCATED_RECORD, "Content-Length")]
    return FaultCase(name, "uncompressed WARC whose last record lacks its final 500 bytes", (path,), tuple(expected))


def case_content_length_short(folder: Path) -> FaultCase:
    """Record 1 declares 200 bytes fewer than it has: its tail looks like garbage before record 2."""
    name = "content_length_short"
    block = http_block(english_html(11).encode())
    data = good_record(name, 0) + warc_record(page_url(name, 1), block, length=len(block) - 200) + good_record(name, 2)
    path = folder / f"{name}.warc"
    path.write_bytes(data)
    expected = [
        *_good_set(name, path.name, [0]),
        # The declared body is a valid (shorter) page: the reader cannot know better.
        kept(path.name, page_url(name, 1)),
        error(path.name, ERROR_MALFORMED_RECORD, "skipped to the next readable record"),
        *_good_set(name, path.name, [2]),
    ]
    return FaultCase(name, "Content-Length 200 bytes too short (uncompressed)", (path,), tuple(expected))


def case_content_length_long(folder: Path) -> FaultCase:
    """The last record declares 5,000 bytes more than the file holds."""
    name = "content_length_long"
    block = http_block(english_html(12).encode())
    data = good_record(name, 0) + good_record(name, 1) + warc_record(page_url(name, 2), block, length=len(block) + 5000)
    path = folder / f"{name}.warc"
    path.write_bytes(data)
    expected = [*_good_set(name, path.name, [0, 1]), error(path.name, ERROR_TRUNCATED_RECORD, "Content-Length", page_url(name, 2))]
    return FaultCase(name, "Content-Length 5,000 bytes too long on the last record", (path,), tuple(expected))


def case_content_length_long_gzip(folder: Path) -> FaultCase:
    """A gzip member declares more bytes than it holds; the next member's record must survive."""
    name = "content_length_long_gzip"
    block = http_block(english_html(13).encode())
    bad = warc_record(page_url(name, 1), block, length=len(block) + 300)
    data = gzip_member(good_record(name, 0)) + gzip_member(bad) + gzip_member(good_record(name, 2))
    path = folder / f"{name}.warc.gz"
    path.write_bytes(data)
    expected = [
        *_good_set(name, path.name, [0]),
        # FastWARC reads the 300 bytes from the next member: the page itself is complete, so it is kept,
        # and the next record's header, cut at its start, is the unreadable region.
        kept(path.name, page_url(name, 1)),
        error(path.name, ERROR_MALFORMED_RECORD, "skipped to the next readable record"),
        *_good_set(name, path.name, [2]),
    ]
    return FaultCase(name, "gzip record declaring 300 bytes more than its member holds", (path,), tuple(expected))


def case_garbage_between_records(folder: Path) -> FaultCase:
    name = "garbage_between"
    rng = random.Random(7)
    garbage = bytes(rng.randrange(256) for _ in range(3000))
    data = good_record(name, 0) + garbage + good_record(name, 1) + good_record(name, 2)
    path = folder / f"{name}.warc"
    path.write_bytes(data)
    expected = [*_good_set(name, path.name, [0]), error(path.name, ERROR_MALFORMED_RECORD, "skipped to the next readable record"), *_good_set(name, path.name, [1, 2])]
    return FaultCase(name, "3,000 random bytes between two records (uncompressed)", (path,), tuple(expected))


def case_garbage_between_members(folder: Path) -> FaultCase:
    name = "garbage_between_gzip"
    data = gzip_member(good_record(name, 0)) + b"this is not gzip\n" * 20 + gzip_member(good_record(name, 1))
    path = folder / f"{name}.warc.gz"
    path.write_bytes(data)
    expected = [*_good_set(name, path.name, [0]), error(path.name, ERROR_CORRUPT_GZIP, "skipped to the next readable record"),
                *_good_set(name, path.name, [1])]
    return FaultCase(name, "text bytes between two gzip members", (path,), tuple(expected))


def case_deep_nesting(folder: Path) -> FaultCase:
    """HTML nested 100,000 <div>s deep around a short text, next to good pages."""
    name = "deep_nesting"
    depth = 100_000
    body = "<div>" * depth + "<p>Deep inside the nesting there is one sentence of text.</p>" + "</div>" * depth
    page = _page("Deep", body, "utf-8", "en").encode()
    data = good_record(name, 0) + warc_record(page_url(name, 1), http_block(page)) + good_record(name, 2)
    path = folder / f"{name}.warc"
    path.write_bytes(data)
    # libxml2 stops nesting at depth 256 and drops what lies deeper; the page keeps the text it could
    # parse (its title), so it is kept, and the quality filters judge it later like any thin page.
    expected = [*_good_set(name, path.name, [0]), kept(path.name, page_url(name, 1), "Deep"),
                *_good_set(name, path.name, [2])]
    return FaultCase(name, f"HTML nested {depth:,} levels deep", (path,), tuple(expected),
                     alternatives=((STAGE_EXTRACT, EXTRACTION_TIMEOUT),))


def case_long_line(folder: Path) -> FaultCase:
    """A 9.5 MB page on a single line: under the payload cap, over the extractor's HTML limit."""
    name = "long_line"
    sentence = "The tide came in slowly over the flat sand and the birds moved back towards the dunes. "
    big = _page("Long", "<p>" + sentence * (9_500_000 // len(sentence)) + "</p>", "utf-8", "en").replace("\n", " ")
    data = (good_record(name, 0) + warc_record(page_url(name, 1), http_block(big.encode()))
            + good_record(name, 2))
    path = folder / f"{name}.warc"
    path.write_bytes(data)
    expected = [*_good_set(name, path.name, [0]),
                rejected(path.name, page_url(name, 1), STAGE_EXTRACT, HTML_TOO_LARGE, "bytes"),
                *_good_set(name, path.name, [2])]
    return FaultCase(name, "9.5 MB of text on one line", (path,), tuple(expected))


def case_charsets(folder: Path) -> FaultCase:
    """One page per common charset, declared correctly in the HTTP header; plus UTF-8 and UTF-16 with BOM."""
    name = "charsets"
    records = []
    expected = []
    path = folder / f"{name}.warc.gz"
    for n, charset in enumerate(_FOREIGN):
        page, phrase = foreign_html(charset)
        url = page_url(name, n)
        records.append(gzip_member(warc_record(url, http_block(page.encode(charset), f"text/html; charset={charset}"))))
        expected.append(kept(path.name, url, phrase))
    n = len(_FOREIGN)
    page, phrase = foreign_html("windows-1251")
    utf16 = page.replace('charset="windows-1251"', 'charset="utf-16"')
    records.append(gzip_member(warc_record(page_url(name, n), http_block("\ufeff".encode("utf-16-le") + utf16.encode("utf-16-le"), "text/html"))))
    expected.append(kept(path.name, page_url(name, n), phrase))
    page, phrase = foreign_html("shift_jis")
    utf8 = page.replace('charset="shift_jis"', 'charset="utf-8"')
    records.append(gzip_member(warc_record(page_url(name, n + 1), http_block(utf8.encode("utf-8"), "text/html; charset=utf-8"))))
    expected.append(kept(path.name, page_url(name, n + 1), phrase))
    path.write_bytes(b"".join(records))
    return FaultCase(name, "utf-8, utf-16 (BOM), " + ", ".join(_FOREIGN), (path,), tuple(expected))


def case_lying_charset(folder: Path) -> FaultCase:
    """Headers that lie: 'utf-8' on windows-1252 bytes, 'iso-8859-1' on UTF-8 bytes, 'shift_jis' on UTF-8."""
    name = "lying_charset"
    path = folder / f"{name}.warc"
    french, phrase_fr = foreign_html("windows-1252")
    russian, phrase_ru = foreign_html("windows-1251")
    japanese, phrase_ja = foreign_html("shift_jis")
    lies = [
        (french.replace('charset="windows-1252"', 'charset="utf-8"').encode("cp1252"), "text/html; charset=utf-8", phrase_fr),
        (french.replace('charset="windows-1252"', 'charset="iso-8859-1"').encode("utf-8"), "text/html; charset=iso-8859-1", phrase_fr),
        (russian.replace('charset="windows-1251"', 'charset="iso-8859-1"').encode("utf-8"), "text/html; charset=iso-8859-1", phrase_ru),
        (japanese.encode("utf-8"), "text/html; charset=shift_jis", phrase_ja),
    ]
    records = []
    expected = []
    for n, (body, content_type, phrase) in enumerate(lies):
        records.append(warc_record(page_url(name, n), http_block(body, content_type)))
        expected.append(kept(path.name, page_url(name, n), phrase))
    path.write_bytes(b"".join(records))
    return FaultCase(name, "declared utf-8 but cp1252; declared iso-8859-1 but utf-8; declared shift_jis but utf-8",
                     (path,), tuple(expected))


def case_bad_characters(folder: Path) -> FaultCase:
    """NUL bytes, invalid UTF-8, encoded lone surrogates and surrogate/NUL character references in text."""
    name = "bad_characters"
    path = folder / f"{name}.warc"
    base = english_html(21)
    variants = [
        # A few NULs inside the text: dropped, page kept.
        base.replace("harbour", "harb\x00our", 3).encode(),
        # Invalid UTF-8 bytes (a stray continuation byte and a cut sequence).
        base.encode().replace(b"pier", b"pi\x80er", 2).replace(b"wall", b"wa\xe2\x82ll", 1),
        # A UTF-8-encoded lone surrogate (CESU-style), which strict UTF-8 refuses.
        base.encode().replace(b"bench", b"be\xed\xa0\x80nch", 1),
        # Character references to a lone surrogate, to NUL and beyond Unicode.
        base.replace("granite", "gran&#xD800;ite &#0; &#x110000; &#55357;").encode(),
        # UTF-16 with a BOM and one lone surrogate code unit in the text.
        b"\xff\xfe" + base.replace("lighthouse", "light\ud800house").encode("utf-16-le", "surrogatepass"),
        # Too many NULs: binary, not a page.
        base.replace(" ", " \x00").encode(),
    ]
    records = [warc_record(page_url(name, n), http_block(body, "text/html")) for n, body in enumerate(variants)]
    path.write_bytes(b"".join(records))
    expected = [kept(path.name, page_url(name, n), "Report 21.") for n in range(len(variants) - 1)]
    expected.append(rejected(path.name, page_url(name, len(variants) - 1), STAGE_TRIAGE, BINARY_CONTENT, "NUL"))
    return FaultCase(name, "NULs, invalid UTF-8, lone surrogates (bytes and &#xD800;)", (path,), tuple(expected))


def case_not_archives(folder: Path) -> FaultCase:
    png = folder / "not_archive.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 13, b"IHDR") + bytes(200))
    text = folder / "not_archive.txt"
    text.write_text("This is a plain text file.\nIt is not a WARC file at all.\n" * 20)
    empty = folder / "empty.warc.gz"
    empty.write_bytes(b"")
    html_file = folder / "not_archive.html.gz"
    html_file.write_bytes(gzip_member(english_html(3).encode()))
    expected = (
        error(png.name, ERROR_NOT_AN_ARCHIVE, "not a WARC"),
        error(text.name, ERROR_NOT_AN_ARCHIVE, "not a WARC"),
        error(empty.name, ERROR_EMPTY_FILE, "empty"),
        error(html_file.name, ERROR_NOT_AN_ARCHIVE, "not a WARC"),
    )
    return FaultCase("not_archives", "empty file, PNG, text file, gzipped HTML", (png, text, empty, html_file), expected)


def case_long_url(folder: Path) -> FaultCase:
    name = "long_url"
    url = page_url(name, 1) + "?q=" + "a" * 100_000
    block = http_block(english_html(31).encode())
    data = good_record(name, 0) + warc_record(url, block) + good_record(name, 2)
    path = folder / f"{name}.warc"
    path.write_bytes(data)
    # FastWARC refuses header blocks over its limit: the record is one read error, its neighbours are kept.
    expected = [*_good_set(name, path.name, [0]), error(path.name, ERROR_MALFORMED_RECORD, "header length"),
                *_good_set(name, path.name, [2])]
    return FaultCase(name, "a 100 kB URL in WARC-Target-URI", (path,), tuple(expected))


def case_duplicate_record_ids(folder: Path) -> FaultCase:
    """Two different pages under one WARC-Record-ID: both are accounted for (dedup is a later stage)."""
    name = "duplicate_ids"
    shared_id = "<urn:uuid:11111111-2222-4333-8444-555555555555>"
    data = b"".join(
        warc_record(page_url(name, n), http_block(english_html(40 + n).encode()), record_id=shared_id) for n in range(2)
    )
    path = folder / f"{name}.warc"
    path.write_bytes(data)
    expected = (kept(path.name, page_url(name, 0), "Report 40."), kept(path.name, page_url(name, 1), "Report 41."))
    return FaultCase(name, "two records with the same WARC-Record-ID", (path,), expected)


def case_hostile_extraction(folder: Path) -> FaultCase:
    """Pages that make the extractor hang, crash its process, or raise (needs `fakes.hostile` as extract_fn)."""
    from tests.faults.fakes import CRASH_MARKER, HANG_MARKER, RAISE_MARKER

    name = "hostile_extraction"
    path = folder / f"{name}.warc"
    records = [good_record(name, 0)]
    expected = _good_set(name, path.name, [0])
    bad = ((HANG_MARKER, EXTRACTION_TIMEOUT, "longer than"), (CRASH_MARKER, EXTRACTION_CRASHED, "killed by SIGSEGV"),
           (RAISE_MARKER, EXTRACTION_CRASHED, "RecursionError"))
    for k, (marker, reason, detail) in enumerate(bad):
        n = 2 * k + 1
        records.append(warc_record(page_url(name, n), http_block(english_html(n, extra_body=f"<p>{marker}</p>").encode())))
        expected.append(rejected(path.name, page_url(name, n), STAGE_EXTRACT, reason, detail))
        records.append(good_record(name, n + 1))
        expected += _good_set(name, path.name, [n + 1])
    path.write_bytes(b"".join(records))
    return FaultCase(name, "extractor hangs, segfaults, raises on one page each", (path,), tuple(expected))


LIGHT_CASES: tuple[Callable[[Path], FaultCase], ...] = (
    case_truncated_gzip,
    lambda folder: case_truncated_gzip(folder, seed=1),
    lambda folder: case_truncated_gzip(folder, seed=2),
    case_truncated_plain,
    case_content_length_short,
    case_content_length_long,
    case_content_length_long_gzip,
    case_garbage_between_records,
    case_garbage_between_members,
    case_charsets,
    case_lying_charset,
    case_bad_characters,
    case_not_archives,
    case_long_url,
    case_duplicate_record_ids,
    case_hostile_extraction,
)

# Slower for the extractor (seconds of lxml/trafilatura work), but small on disk.
MEDIUM_CASES: tuple[Callable[[Path], FaultCase], ...] = (case_deep_nesting, case_long_line)


# --------------------------------------------------------------------------- heavy cases


def _write_streamed(out: BinaryIO, head: bytes, size: int, filler: bytes, compressor=None) -> None:
    """Write `head` then `size` bytes of repeated `filler`, 1 MB at a time (through `compressor` if given)."""
    chunk = (filler * (_CHUNK // len(filler) + 1))[:_CHUNK]
    write = (lambda b: out.write(compressor.compress(b))) if compressor else out.write
    write(head)
    left = size
    while left > 0:
        n = min(left, len(chunk))
        write(chunk[:n])
        left -= n


def case_huge_record(folder: Path, size: int = 200 * 1024 * 1024) -> FaultCase:
    """A 200 MB HTML response between two good records, written uncompressed in 1 MB chunks."""
    name = "huge_record"
    path = folder / f"{name}.warc"
    prefix = (f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {size}\r\n\r\n"
              "<html><body><p>").encode()
    with open(path, "wb") as out:
        out.write(good_record(name, 0))
        url = page_url(name, 1)
        _write_streamed(out, warc_head(url, len(prefix) + size, record_id_for(url)) + prefix, size, b"word ")
        out.write(b"\r\n\r\n")
        out.write(good_record(name, 2))
    expected = (*_good_set(name, path.name, [0]),
                rejected(path.name, page_url(name, 1), STAGE_TRIAGE, TOO_LARGE, "larger than"),
                *_good_set(name, path.name, [2]))
    return FaultCase(name, f"a {size // 2**20} MB response record", (path,), expected, heavy=True)


def case_gzip_bomb(folder: Path, size: int = 1100 * 1024 * 1024) -> FaultCase:
    """A ~1 MB gzip member that inflates to 1.1 GB: zeros in an HTML body with a matching Content-Length."""
    name = "gzip_bomb"
    path = folder / f"{name}.warc.gz"
    prefix = (f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {size}\r\n\r\n<html><body>").encode()
    url = page_url(name, 1)
    with open(path, "wb") as out:
        out.write(gzip_member(good_record(name, 0)))
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        _write_streamed(out, warc_head(url, len(prefix) + size, record_id_for(url)) + prefix, size, b"\x00", compressor)
        out.write(compressor.compress(b"\r\n\r\n") + compressor.flush())
        out.write(gzip_member(good_record(name, 2)))
    expected = (*_good_set(name, path.name, [0]),
                rejected(path.name, url, STAGE_TRIAGE, TOO_LARGE, "larger than"),
                *_good_set(name, path.name, [2]))
    return FaultCase(name, f"{path.stat().st_size // 1024} kB gzip member inflating to {size // 2**20} MB",
                     (path,), expected, heavy=True)


HEAVY_CASES: tuple[Callable[[Path], FaultCase], ...] = (case_huge_record, case_gzip_bomb)


def build_cases(folder: Path, factories: Sequence[Callable[[Path], FaultCase]]) -> list[FaultCase]:
    folder.mkdir(parents=True, exist_ok=True)
    return [factory(folder) for factory in factories]
