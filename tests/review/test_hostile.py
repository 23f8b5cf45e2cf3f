"""Hostile input to the review app and the label files: bad text, huge bodies, foreign hosts, formula cells.

Each test here failed before the hardening of issue 21: a lone surrogate in a
note gave 500 and poisoned every later label, a 200 MB body was read whole
before 413, any Host was served on 0.0.0.0, and CSV cells went out as formulas.
"""
from __future__ import annotations

import asyncio
import csv
import json

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from tests.review.helpers import make_output
from winnow import schemas
from winnow.cli import main
from winnow.review.app import MAX_BODY_BYTES, ExposureError, ReviewSession, create_review_app
from winnow.review.compare import CompareItem, CompareSession, create_compare_app, read_prompts
from winnow.review.labels import (
    LABELS_PREFIX, LabelsError, SessionFile, export_labels, import_labels, label_row, neutralise_cell, read_labels,
    read_votes, restore_cell, review_dir,
)
from winnow.review.sample import draw_sample
from winnow.review.source import load_index, load_texts

SURROGATE_NOTE = '{"label": "good", "note": "bad \\ud800 note"}'  # valid JSON, unstorable text


@pytest.fixture()
def out(tmp_path):
    return make_output(tmp_path / "out")


def open_session(out, reviewer="ana"):
    items = draw_sample(load_index(out), 12, seed=1)
    return ReviewSession(out, items, load_texts(i.record for i in items), reviewer)


def raw_post(client, path, body: str, token: str):
    return client.post(path, content=body.encode(), headers={"X-Review-Token": token, "Content-Type": "application/json"})


# ---- bad text: 400, and the session goes on ----------------------------------------------------------------

def test_surrogate_note_is_refused_and_the_session_goes_on(out):
    session = open_session(out)
    client = TestClient(create_review_app(session, extra_hosts=["testserver"]))
    bad = raw_post(client, "/api/items/0/label", SURROGATE_NOTE, session.token)
    assert bad.status_code == 400 and "note is not valid Unicode text" in bad.json()["error"]
    assert session.labels == {}  # nothing of the bad label was kept
    for index in (0, 1):  # every later label still works
        ok = client.post(f"/api/items/{index}/label", json={"label": "good", "note": "fine"},
                         headers={"X-Review-Token": session.token})
        assert ok.status_code == 200
    assert ok.json()["labelled"] == 2
    assert sorted(read_labels(out).column("note").to_pylist()) == ["fine", "fine"]


def test_deeply_nested_body_is_a_400_not_a_500(out):
    session = open_session(out)
    client = TestClient(create_review_app(session, extra_hosts=["testserver"]))
    nested = "[" * 8_000 + "]" * 8_000  # under the size limit, deeper than Python's recursion limit
    assert len(nested) < MAX_BODY_BYTES
    response = raw_post(client, "/api/items/0/label", nested, session.token)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


def test_a_failed_write_takes_the_row_back_out(tmp_path):
    store = SessionFile(tmp_path, LABELS_PREFIX, "ana", schemas.review_labels_schema())
    store.put(label_row("d1", "good", "ana", "first", None))
    poisoned = {**label_row("d1", "bad", "ana", None, None), "note": "x\udc80"}  # bypasses label_row's check
    with pytest.raises(Exception):
        store.put(poisoned)
    with pytest.raises(Exception):
        store.put({**poisoned, "id": "d2"})
    store.put(label_row("d3", "skip", "ana", None, None))  # the store is not stuck
    rows = {r["id"]: (r["label"], r["note"]) for r in pq.read_table(store.path).to_pylist()}
    assert rows == {"d1": ("good", "first"), "d3": ("skip", None)}


def test_surrogate_vote_note_is_refused_and_voting_goes_on(tmp_path):
    run_a, run_b = tmp_path / "run-a", tmp_path / "run-b"
    run_a.mkdir()
    run_b.mkdir()
    items = [CompareItem(i, f"p{i}", "The cat", i, "a", f"alpha {i}", f"beta {i}") for i in range(2)]
    session = CompareSession(run_a, run_b, items, "ana")
    client = TestClient(create_compare_app(session, extra_hosts=["testserver"]))
    bad = raw_post(client, "/api/items/0/vote", '{"vote": "left", "note": "\\udfff"}', session.token)
    assert bad.status_code == 400 and "not valid Unicode text" in bad.json()["error"]
    headers = {"X-Review-Token": session.token}
    assert client.post("/api/items/0/vote", json={"vote": "left"}, headers=headers).status_code == 200
    assert client.post("/api/items/1/vote", json={"vote": "tie", "note": "ok"}, headers=headers).json()["done"]
    assert read_votes(run_a).num_rows == read_votes(run_b).num_rows == 2


def test_surrogate_prompt_is_refused_with_file_and_line(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "fine"}\n{"prompt": "\\ud800"}\n')
    with pytest.raises(LabelsError, match=r"p.jsonl:2: .*surrogate"):
        read_prompts(prompts)


# ---- request bodies are limited while they are read --------------------------------------------------------

def call_asgi(app, headers: list[tuple[bytes, bytes]], chunks, chunk_size: int) -> tuple[int, int]:
    """POST a body of `chunks` chunks straight into the ASGI app; (status, bytes the app pulled)."""
    pulled = 0
    sent = iter(range(chunks))
    status = []

    async def receive():
        nonlocal pulled
        if next(sent, None) is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += chunk_size
        return {"type": "http.request", "body": b"x" * chunk_size, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/items/0/label", "raw_path": b"/api/items/0/label", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8765"), *headers], "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8765),
    }
    asyncio.run(app(scope, receive, send))
    return status[0], pulled


def test_a_200_mb_body_is_refused_without_reading_it(out):
    session = open_session(out)
    app = create_review_app(session)
    base = [(b"x-review-token", session.token.encode()), (b"content-type", b"application/json")]
    chunk = 64 * 1024
    chunks = 200 * 1024 * 1024 // chunk
    # chunked (no Content-Length): counted while it arrives, refused just past the limit
    status, pulled = call_asgi(app, base, chunks, chunk)
    assert status == 413 and pulled <= MAX_BODY_BYTES + chunk
    # a declared Content-Length over the limit: refused before a byte is read
    status, pulled = call_asgi(app, [*base, (b"content-length", str(200 * 1024 * 1024).encode())], chunks, chunk)
    assert (status, pulled) == (413, 0)
    assert not review_dir(out).exists()


# ---- Host and Origin on a non-loopback interface -----------------------------------------------------------

def test_non_loopback_host_needs_an_allow_list(out):
    session = open_session(out)
    with pytest.raises(ExposureError, match="--allow-host"):
        create_review_app(session, host="0.0.0.0")
    with pytest.raises(ExposureError, match="without scheme or port"):
        create_review_app(session, host="0.0.0.0", extra_hosts=["*"])
    with pytest.raises(ExposureError, match="without scheme or port"):
        create_review_app(session, host="0.0.0.0", extra_hosts=["http://review.lan:8765"])


def test_allow_list_checks_host_and_origin(out):
    session = open_session(out)
    client = TestClient(create_review_app(session, host="0.0.0.0", extra_hosts=["Review.LAN"]),
                        base_url="http://review.lan:8765")
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"host": "rebound.attacker.example"}).status_code == 400
    assert client.get("/", headers={"host": "192.168.1.20"}).status_code == 400  # not listed
    token = {"X-Review-Token": session.token}
    foreign = client.post("/api/items/0/label", json={"label": "good"},
                          headers={**token, "Origin": "http://attacker.example"})
    assert foreign.status_code == 403
    assert client.get("/api/state", headers={"Origin": "null"}).status_code == 403
    same = client.post("/api/items/0/label", json={"label": "good"}, headers={**token, "Origin": "http://review.lan:8765"})
    assert same.status_code == 200
    # bound to one address: that address is accepted as a Host too
    client = TestClient(create_review_app(session, host="192.168.1.20", extra_hosts=["review.lan"]),
                        base_url="http://192.168.1.20:8765")
    assert client.get("/api/state").status_code == 200


def test_loopback_default_is_unchanged(out):
    session = open_session(out)
    client = TestClient(create_review_app(session), base_url="http://127.0.0.1:8765")
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"host": "localhost:8765"}).status_code == 200
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"host": ""}).status_code == 400
    # an IPv6 Host keeps its brackets and port: it is not cut at its first colon
    client = TestClient(create_review_app(session, host="::1"), base_url="http://[::1]:8765")
    assert client.get("/api/state").status_code == 200
    assert client.get("/api/state", headers={"host": "[::2]:8765"}).status_code == 400


def test_serve_on_all_interfaces_refuses_without_allow_host(out, capsys, monkeypatch):
    served = []
    monkeypatch.setattr("winnow.review.server.serve", lambda app, sock: served.append(sock.close()))
    assert main(["review", "serve", str(out), "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 makes the review server reachable" in err and "--allow-host" in err
    assert "Traceback" not in err
    assert main(["review", "compare", "--run", "a", "--run", "b", "--host", "0.0.0.0"]) == 2
    assert "--allow-host" in capsys.readouterr().err
    assert not served  # refused before listening


# ---- CSV export neutralises formulas; import restores them -------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x.example","click")', "+1+1", "-2", "@SUM(A1)", "'=already quoted", "plain, text"]


def test_csv_export_neutralises_formula_cells_and_import_restores_them(out, tmp_path):
    ids = [f"kept-{i:03d}" for i in range(len(FORMULAS))]
    store = SessionFile(review_dir(out), LABELS_PREFIX, "@ana", schemas.review_labels_schema())
    store.put_many(label_row(d, "good", "@ana", note, None) for d, note in zip(ids, FORMULAS))
    exported = tmp_path / "labels.csv"
    export_labels(out, exported)
    with exported.open(newline="") as f:
        cells = {r["id"]: r for r in csv.DictReader(f)}
    notes = [cells[d]["note"] for d in ids]
    assert notes == ["'" + n for n in FORMULAS[:5]] + ["plain, text"]
    assert all(r["reviewer"] == "'@ana" for r in cells.values())
    for row in cells.values():  # no text cell a spreadsheet would evaluate
        assert not any(v[:1] in ("=", "+", "-", "@", "\t", "\r") for v in row.values())
    other = make_output(tmp_path / "other")
    import_labels(other, exported, load_index(other).by_id.keys(), "x")
    back = {r["id"]: (r["note"], r["reviewer"]) for r in read_labels(other).to_pylist()}
    assert back == {d: (n, "@ana") for d, n in zip(ids, FORMULAS)}
    # the JSONL export is not a spreadsheet format: values go out as they are
    export_labels(out, tmp_path / "labels.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert sorted(r["note"] for r in rows) == sorted(FORMULAS)


@pytest.mark.parametrize("cell", ["\tx", "\rx", "=1", "+1", "-1", "@a", "'=1", "''+1", "'x", "x=1", "", "1"])
def test_neutralise_and_restore_are_inverse(cell):
    assert restore_cell(neutralise_cell(cell)) == cell
    assert neutralise_cell(cell)[:1] not in ("=", "+", "-", "@", "\t", "\r")


# ---- the label importer: one line, naming file and line ----------------------------------------------------

@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "kept-001", "label": "good", "note": "\\ud800"}\n', r"a.jsonl:1: .*surrogate"),
        ('{"id": "kept-001", "label": "good"}\n{"id": "\\udc00x", "label": "good"}\n', r"a.jsonl:2: .*surrogate"),
        ('{"id": "kept-001", "label": "good", "reviewer": "\\ud83d"}\n', r"a.jsonl:1: .*surrogate"),
        ('{"id": "kept-001", "label": "good", "note": 5}\n', r"a.jsonl:1: note must be text"),
    ],
)
def test_import_refuses_bad_text_naming_file_and_line(out, tmp_path, content, message):
    path = tmp_path / "a.jsonl"
    path.write_text(content)
    with pytest.raises(LabelsError, match=message):
        import_labels(out, path, load_index(out).by_id.keys(), "x")
    assert not review_dir(out).exists()


def test_import_of_deeply_nested_json_is_one_line(out, tmp_path, capsys):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"id": "kept-001", "label": "good"}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    assert main(["review", "import", str(out), str(path)]) == 3  # a malformed labels file: unusable input
    err = capsys.readouterr().err
    assert "deep.jsonl:2:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not review_dir(out).exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("id,label,note\nkept-001,good," + "x" * 200_000 + "\n", r"a.csv:2: not valid CSV \(field larger than field limit"),
        ("id,label," + "x" * 200_000 + "\n", r"a.csv:1: not valid CSV"),
    ],
)
def test_import_of_a_broken_csv_names_file_and_line(out, tmp_path, content, message):
    path = tmp_path / "a.csv"
    path.write_text(content)
    with pytest.raises(LabelsError, match=message):
        import_labels(out, path, load_index(out).by_id.keys(), "x")
    assert not review_dir(out).exists()
