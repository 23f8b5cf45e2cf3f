"""A small Winnow output directory for the review tests, with hostile text planted in it."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from winnow import schemas

SIGNALS = [("gopher_word_count", "int"), ("fineweb_punct_ratio", "float"), ("c4_has_lorem", "bool")]
SCORE = "classifier_quality_score"
PLANTED = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
PLANTED_ID = "kept-xss"
REJECTIONS = (("gopher", "gopher_below_min_words", 10), ("c4", "c4_lorem_ipsum", 6), ("triage", "not_html", 3))


def write(path: Path, schema: pa.Schema, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def doc(doc_id: str, words: int, score: float | None, text: str | None = None) -> dict:
    return {
        "id": doc_id, "url": f"https://example.org/{doc_id}", "domain": "example.org", "warc_record_id": None,
        "warc_date": "2024-01-01", "source": "a.warc.gz", "text": text if text is not None else "word " * words,
        "language": "en", "language_score": 0.97, "gopher_word_count": words,
        "fineweb_punct_ratio": words / 200, "c4_has_lorem": False, SCORE: score,
    }


def make_output(root: Path, kept: int = 30, with_duplicates: bool = False) -> Path:
    """documents/ (kept, one with planted script), rejected/ for three rules, errors/, stats.json."""
    signals = [*SIGNALS, (SCORE, "float")]
    docs = [doc(f"kept-{i:03d}", 50 + 5 * i, i / kept) for i in range(kept - 1)]
    docs.append(doc(PLANTED_ID, 120, 0.5, text=f"Before {PLANTED} after"))
    # two shards, as Beam writes them
    write(root / "documents" / "part-00000.parquet", schemas.document_schema(signals), docs[: kept // 2])
    write(root / "documents" / "part-00001.parquet", schemas.document_schema(signals), docs[kept // 2:])
    rejected = []
    for stage, reason, count in REJECTIONS:
        for i in range(count):
            row = doc(f"{stage}-{i:03d}", 5 + i, 0.1)
            row["text"] = None if stage == "triage" else f"short {stage} page {i}"  # triage keeps no text
            row.update(stage=stage, reason=reason, detail=f"{stage} detail {i}")
            rejected.append(row)
    write(root / "rejected" / "part-00000.parquet", schemas.rejected_schema(signals), rejected)
    write(root / "errors" / "part-00000.parquet", schemas.error_schema(), [])
    if with_duplicates:
        write(root / "duplicates" / "part-00000.parquet", schemas.duplicates_schema(), [
            {"id": f"dup-{i}", "url": f"https://example.org/dup{i}", "source": "a.warc.gz", "kind": "near",
             "cluster_id": "kept-000", "representative_id": "kept-000"} for i in range(4)
        ])
    (root / "stats.json").write_text("{}")
    return root
