"""Which columns are signals: one definition in winnow.schemas, used by inspect and report."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from winnow import schemas
from winnow.inspect import describe_signals
from winnow.report.signals import numeric_signal_columns

SIGNALS = [("gopher_quality_word_count", "int"), ("fineweb_line_punct_ratio", "float"),
           ("c4_has_lorem_ipsum", "bool"), ("pii_kinds", "str")]


def test_every_declared_table_column_is_not_a_signal():
    for schema in (schemas.document_schema(with_cluster=True), schemas.rejected_schema(), schemas.error_schema(),
                   schemas.duplicates_schema()):
        assert schemas.signal_fields_of(schema) == []
    for name in ("id", "url", "domain", "warc_record_id", "warc_date", "source", "text", "language", "language_score",
                 "stage", "reason", "detail", "error_type", "error_message", "traceback", "cluster_id", "kind",
                 "representative_id", "minhash_cluster_size"):
        assert name in schemas.NON_SIGNAL_COLUMNS, name


def test_step_columns_are_signals_in_schema_order():
    for schema in (schemas.document_schema(SIGNALS, with_cluster=True), schemas.rejected_schema(SIGNALS)):
        assert [f.name for f in schemas.signal_fields_of(schema)] == [name for name, _ in SIGNALS]


def test_a_foreign_table_uses_the_same_rule():
    schema = pa.schema([("id", pa.string()), ("language_score", pa.float32()), ("my_score", pa.float64())])
    assert [f.name for f in schemas.signal_fields_of(schema)] == ["my_score"]


def test_inspect_and_report_agree_on_the_signals(tmp_path: Path):
    schema = schemas.rejected_schema(SIGNALS)
    row = {"id": "a", "stage": "s", "reason": "r", "language_score": 0.5, "gopher_quality_word_count": 3,
           "fineweb_line_punct_ratio": 0.2, "c4_has_lorem_ipsum": True, "pii_kinds": "email"}
    pq.write_table(pa.Table.from_pylist([row], schema=schema), tmp_path / "part.parquet")
    described = set(describe_signals([tmp_path / "part.parquet"]))
    charted = set(numeric_signal_columns([schema]))
    # Both leave out language_score and every other table column; inspect also
    # describes boolean flags (their mean is the share set), the report charts numbers only.
    assert charted == {"gopher_quality_word_count", "fineweb_line_punct_ratio"}
    assert described == charted | {"c4_has_lorem_ipsum"}
