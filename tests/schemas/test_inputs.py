"""The shared Parquet input resolver, local and through pyarrow.fs (the remote code path)."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.schemas import inputs
from winnow.schemas.inputs import ParquetInputError, resolve_parquet_inputs
from winnow.training.parquet_text import ParquetInputError as TrainingParquetInputError


def _parquet(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ["a"], "text": ["x"]}), path)
    return path


def test_training_raises_the_shared_error() -> None:
    assert TrainingParquetInputError is ParquetInputError


def test_local_forms(tmp_path: Path) -> None:
    run = _parquet(tmp_path / "run" / "documents" / "part-00000.parquet")
    _parquet(tmp_path / "run" / "rejected" / "part-00000.parquet")
    flat = [_parquet(tmp_path / "flat" / n) for n in ("b.parquet", "a.parquet")]
    (tmp_path / "flat" / "_SUCCESS.parquet").write_bytes(b"")  # marker files are skipped in directories
    assert resolve_parquet_inputs(str(tmp_path / "run")) == [str(run)]
    assert resolve_parquet_inputs(tmp_path / "flat") == sorted(map(str, flat))
    assert resolve_parquet_inputs(str(tmp_path / "**" / "a.parquet")) == [str(flat[1])]
    assert resolve_parquet_inputs(f"file://{flat[0]}") == [str(flat[0])]
    with pytest.raises(ParquetInputError, match="no input given"):
        resolve_parquet_inputs([])


def test_remote_code_path_through_pyarrow_fs(tmp_path: Path) -> None:
    # file:// URIs through the pyarrow.fs branch exercise what gs:// and s3:// take.
    run = _parquet(tmp_path / "run" / "documents" / "part-00001.parquet")
    flat = _parquet(tmp_path / "flat" / "x.parquet")
    deep = _parquet(tmp_path / "deep" / "a" / "b" / "y.parquet")
    uri = lambda p: f"file://{p}"  # noqa: E731
    assert inputs._expand_remote(uri(tmp_path / "run")) == [uri(run)]
    assert inputs._expand_remote(uri(tmp_path / "flat")) == [uri(flat)]
    assert inputs._expand_remote(uri(flat)) == [uri(flat)]
    assert inputs._expand_remote(uri(tmp_path / "deep" / "**" / "*.parquet")) == [uri(deep)]
    with pytest.raises(ParquetInputError, match="glob matches no files"):  # * never crosses a /
        inputs._expand_remote(uri(tmp_path / "deep" / "*" / "*.parquet"))
    with pytest.raises(ParquetInputError, match="glob matches no files"):
        inputs._expand_remote(uri(tmp_path / "flat" / "*.nothing"))
    with pytest.raises(ParquetInputError, match="no such file or directory"):
        inputs._expand_remote(uri(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParquetInputError, match="empty: directory has no documents/\\*.parquet"):
        inputs._expand_remote(uri(tmp_path / "empty"))
    with inputs.open_input_file(uri(flat)) as handle:
        assert pq.ParquetFile(handle).metadata.num_rows == 1
