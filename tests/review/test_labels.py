"""Label files: atomic session files, resume, several reviewers, import and export."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pyarrow.parquet as pq
import pytest

from tests.review.helpers import make_output
from winnow import schemas
from winnow.review.labels import (
    LABELS_PREFIX, LabelsError, SessionFile, export_labels, import_labels, label_row, read_labels, review_dir,
)
from winnow.review.source import load_index


def session(out, reviewer):
    return SessionFile(review_dir(out), LABELS_PREFIX, reviewer, schemas.review_labels_schema())


def test_session_file_is_rewritten_atomically_and_read_back(tmp_path):
    s = session(tmp_path, "ana")
    s.put(label_row("d1", "good", "ana", "  fine  ", "kept"))
    s.put(label_row("d2", "bad", "ana", None, "rejected/gopher/x"))
    s.put(label_row("d1", "bad", "ana", "changed my mind", "kept"))  # relabel replaces the row
    files = sorted(p.name for p in review_dir(tmp_path).iterdir())
    assert files == [s.path.name]  # no temporary file left behind
    table = pq.read_table(s.path)
    assert table.schema.metadata[b"winnow.schema"] == b"review_labels"
    labels = {r["id"]: r for r in read_labels(tmp_path).to_pylist()}
    assert labels["d1"]["label"] == "bad" and labels["d1"]["note"] == "changed my mind"
    assert labels["d2"]["note"] is None and labels["d2"]["stratum"] == "rejected/gopher/x"
    assert labels["d1"]["time"].tzinfo is not None


def test_latest_label_wins_across_sessions_and_reviewers_stay_apart(tmp_path):
    early = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    first = session(tmp_path, "ana")
    first.put(label_row("d1", "good", "ana", None, None, time=early))
    second = session(tmp_path, "ana")
    second.put(label_row("d1", "bad", "ana", None, None))
    other = session(tmp_path, "bo b/../x")  # the file name is a slug; the row keeps the exact name
    other.put(label_row("d1", "skip", "bo b/../x", None, None))
    assert "/" not in other.path.name[len(LABELS_PREFIX):] and other.path.parent == review_dir(tmp_path)
    latest = {(r["reviewer"], r["id"]): r["label"] for r in read_labels(tmp_path).to_pylist()}
    assert latest == {("ana", "d1"): "bad", ("bo b/../x", "d1"): "skip"}
    assert read_labels(tmp_path, latest=False).num_rows == 3


def test_concurrent_reviewers_do_not_clobber_each_other(tmp_path):
    def work(name):
        s = session(tmp_path, name)
        for i in range(15):
            s.put(label_row(f"d{i}", "good" if i % 2 else "bad", name, None, None))

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_labels(tmp_path).num_rows == 45


def test_corrupt_labels_file_is_named(tmp_path):
    s = session(tmp_path, "ana")
    s.put(label_row("d1", "good", "ana", None, None))
    bad = review_dir(tmp_path) / "labels-broken.parquet"
    bad.write_bytes(b"garbage")
    with pytest.raises(LabelsError, match="labels-broken.parquet: corrupt labels file"):
        read_labels(tmp_path)
    pq.write_table(pq.read_table(s.path).drop_columns(["label"]), bad)
    with pytest.raises(LabelsError, match=r"labels-broken.parquet: missing required column\(s\) \['label'\]"):
        read_labels(tmp_path)


def test_bad_labels_and_reviewers_are_refused():
    with pytest.raises(LabelsError, match="label must be one of"):
        label_row("d", "great", "ana", None, None)
    with pytest.raises(LabelsError, match="reviewer name"):
        label_row("d", "good", "  ", None, None)
    with pytest.raises(LabelsError, match="longer than"):
        label_row("d", "good", "ana", "x" * 5000, None)


def test_import_jsonl_and_csv_then_export_round_trip(tmp_path):
    out = make_output(tmp_path / "out")
    ids = load_index(out).by_id.keys()
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text('{"id": "kept-001", "label": "good"}\n\n{"id": "gopher-001", "label": "BAD", "reviewer": "cy", "note": "thin"}\n')
    assert import_labels(out, jsonl, ids, "team")[0] == 2
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("id,label,reviewer,note\nkept-002,skip,,\nc4-000,bad,dee,\"has, comma\"\n")
    assert import_labels(out, csv_file, ids, "team")[0] == 2
    rows = {r["id"]: r for r in read_labels(out).to_pylist()}
    assert rows["kept-001"]["reviewer"] == "team" and rows["gopher-001"]["label"] == "bad"
    assert rows["gopher-001"]["reviewer"] == "cy" and rows["c4-000"]["note"] == "has, comma"
    assert rows["kept-001"]["stratum"] is None  # imported: not drawn from a sample stratum

    exported = tmp_path / "exp" / "all.jsonl"
    assert export_labels(out, exported) == 4
    back = [json.loads(line) for line in exported.read_text().splitlines()]
    assert {r["id"]: r["label"] for r in back} == {k: v["label"] for k, v in rows.items()}
    assert export_labels(out, tmp_path / "all.csv") == 4
    # a team that labels elsewhere comes back: re-importing the export changes nothing but adds a session
    other = make_output(tmp_path / "other")
    assert import_labels(other, tmp_path / "all.csv", load_index(other).by_id.keys(), "x")[0] == 4
    assert {r["id"]: r["label"] for r in read_labels(other).to_pylist()} == {r["id"]: r["label"] for r in back}


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("a.jsonl", '{"id": "kept-001", "label": "meh"}\n', r"a.jsonl:1: label must be one of"),
        ("b.jsonl", '{"id": "kept-001", "label": "good"}\n{nope\n', r"b.jsonl:2: not valid JSON"),
        ("c.jsonl", '["kept-001", "good"]\n', r"c.jsonl:1: expected a JSON object"),
        ("d.jsonl", '{"id": "nobody", "label": "good"}\n', r"d.jsonl: 1 id\(s\) are not in this output: nobody \(line 1\)"),
        ("e.jsonl", "\n\n", r"e.jsonl: no labels found"),
        ("f.csv", "ident,lab\nx,good\n", r"f.csv: CSV header must name id and label"),
        ("g.txt", "id,label\n", r"g.txt: unknown labels format '.txt'"),
        ("h.jsonl", '{"label": "good"}\n', r"h.jsonl:1: missing or non-text id"),
    ],
)
def test_import_errors_name_file_and_line(tmp_path, name, content, message):
    out = make_output(tmp_path / "out")
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(LabelsError, match=message):
        import_labels(out, path, load_index(out).by_id.keys(), "x")
    assert not review_dir(out).exists()  # nothing half-imported


def test_export_needs_labels_and_a_known_format(tmp_path):
    with pytest.raises(LabelsError, match="no labels to export"):
        export_labels(tmp_path, tmp_path / "x.jsonl")
    with pytest.raises(LabelsError, match="unknown export format '.xlsx'"):
        export_labels(tmp_path, tmp_path / "x.xlsx")
    with pytest.raises(LabelsError, match="no such labels file"):
        import_labels(tmp_path, tmp_path / "none.jsonl", [], "x")
