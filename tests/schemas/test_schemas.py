import pyarrow as pa
import pytest

from winnow import schemas


def test_document_schema_has_required_columns_and_version():
    schema = schemas.document_schema([("gopher_quality_word_count", "int"), ("fineweb_ratio", "float")])
    for name in ("id", "url", "domain", "warc_record_id", "warc_date", "source", "text", "language", "language_score"):
        assert name in schema.names
    assert schema.field("gopher_quality_word_count").type == pa.int64()
    assert schema.metadata[schemas.META_VERSION] == schemas.SCHEMA_VERSION.encode()
    assert schema.metadata[schemas.META_SCHEMA] == b"documents"


def test_rejected_and_error_schemas():
    rejected = schemas.rejected_schema()
    assert {"stage", "reason", "detail", "text"} <= set(rejected.names)
    errors = schemas.error_schema()
    assert {"stage", "error_type", "error_message"} <= set(errors.names)
    assert "cluster_id" in schemas.document_schema(with_cluster=True).names


def test_duplicate_signal_column_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        schemas.document_schema([("text", "str")])


def test_unknown_signal_kind():
    with pytest.raises(ValueError, match="unknown kind"):
        schemas.document_schema([("x", "complex")])


def test_check_table_schema():
    schemas.check_table_schema(schemas.document_schema(), "documents", "f.parquet", required=("id", "text"))
    with pytest.raises(schemas.SchemaMismatch, match="f.parquet.*'rejected'"):
        schemas.check_table_schema(schemas.rejected_schema(), "documents", "f.parquet")
    foreign = pa.schema([("body", pa.string())])
    with pytest.raises(schemas.SchemaMismatch, match="missing required column"):
        schemas.check_table_schema(foreign, "documents", "f.parquet", required=("id", "text"))
    future = pa.schema([("id", pa.string()), ("text", pa.string())], metadata={schemas.META_VERSION: b"99"})
    with pytest.raises(schemas.SchemaMismatch, match="version 99"):
        schemas.check_table_schema(future, "documents", "f.parquet")
    wrong_type = pa.schema([("id", pa.string()), ("text", pa.int64())])
    with pytest.raises(schemas.SchemaMismatch, match="expected string"):
        schemas.check_table_schema(wrong_type, "documents", "f.parquet", required=("id", "text"))
