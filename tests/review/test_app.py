"""The labelling API through Starlette's test client: escaping, tokens, persistence, resume."""
from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.review.helpers import PLANTED, PLANTED_ID, make_output
from winnow.review.app import CSP, ReviewSession, create_review_app
from winnow.review.labels import read_labels, review_dir
from winnow.review.sample import draw_sample
from winnow.review.source import load_index, load_texts


def open_session(out, reviewer="ana", size=12):
    items = draw_sample(load_index(out), size, seed=1)
    return ReviewSession(out, items, load_texts(i.record for i in items), reviewer)


def client_for(session):
    return TestClient(create_review_app(session, extra_hosts=["testserver"]))


@pytest.fixture()
def out(tmp_path):
    return make_output(tmp_path / "out")


def post_label(client, session, index, label, note=None, token=None):
    return client.post(
        f"/api/items/{index}/label", json={"label": label, "note": note},
        headers={"X-Review-Token": session.token if token is None else token},
    )


def test_page_is_escaped_and_locked_down(out):
    session = open_session(out, reviewer='<img src=x onerror="alert(1)">')
    client = client_for(session)
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP and "script-src 'self'" in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<img src=x' not in response.text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in response.text
    assert f'content="{session.token}"' in response.text
    assert "onerror" not in response.text.replace("onerror=&quot;", "")  # no inline handlers of our own either
    assert client.get("/static/review.js").headers["content-type"].startswith("text/javascript")


def test_document_json_carries_text_verdict_signals_and_scores(out):
    session = open_session(out, size=60)
    client = client_for(session)
    state = client.get("/api/state").json()
    assert state["total"] == len(session.items) and state["labelled"] == 0 and state["position"] == 0
    planted = next(i.index for i in session.items if i.record.id == PLANTED_ID)
    doc = client.get(f"/api/items/{planted}").json()
    assert PLANTED in doc["text"]  # JSON: the page puts it in textContent
    assert doc["verdict"] == "kept" and doc["fields"]["url"].endswith(PLANTED_ID)
    assert doc["signals"]["gopher_word_count"] == 120 and doc["scores"]["classifier_quality_score"] == 0.5
    rejected = next(i.index for i in session.items if i.record.stage == "triage")
    doc = client.get(f"/api/items/{rejected}").json()
    assert (doc["stage"], doc["reason"], doc["text"]) == ("triage", "not_html", None)
    assert doc["fields"]["detail"].startswith("triage detail")


def test_state_changes_need_post_token_and_json(out):
    session = open_session(out)
    client = client_for(session)
    assert post_label(client, session, 0, "good", token="").status_code == 403
    assert post_label(client, session, 0, "good", token="guess").status_code == 403
    assert client.get("/api/items/0/label").status_code == 405
    form = client.post("/api/items/0/label", data={"label": "good"}, headers={"X-Review-Token": session.token})
    assert form.status_code == 415
    assert post_label(client, session, 0, "excellent").status_code == 400
    bad_note = client.post("/api/items/0/label", json={"label": "good", "note": 5}, headers={"X-Review-Token": session.token})
    assert bad_note.status_code == 400
    assert post_label(client, session, 999, "good").status_code == 404
    assert not review_dir(out).exists()  # nothing was written by any of these


def test_no_client_path_reaches_the_filesystem(out):
    client = client_for(open_session(out))
    for path in ("/static/../labels.py", "/static/..%2Fapp.py", "/static/%2e%2e%2fapp.py", "/static/app.py",
                 "/api/items/-1", "/api/items/..%2F..%2Fetc%2Fpasswd"):
        assert client.get(path).status_code == 404, path


def test_foreign_host_header_is_refused(out):
    client = client_for(open_session(out))
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"host": "127.0.0.1:8765"}).status_code == 200


def test_labels_persist_and_a_restart_resumes(out):
    session = open_session(out)
    client = client_for(session)
    assert post_label(client, session, 0, "good", note="clean prose").json() == {"labelled": 1, "total": 12}
    assert post_label(client, session, 1, "bad").json()["labelled"] == 2
    assert post_label(client, session, 1, "skip").json()["labelled"] == 2  # relabel, not a new label
    assert post_label(client, session, 2, "bad").json()["labelled"] == 3
    rows = {r["id"]: r for r in read_labels(out).to_pylist()}
    first = session.items[0]
    assert rows[first.record.id]["note"] == "clean prose" and rows[first.record.id]["stratum"] == first.stratum
    assert rows[session.items[1].record.id]["label"] == "skip"

    restarted = open_session(out)  # a new process: new token, new session file
    assert restarted.token != session.token and restarted.store.path != session.store.path
    state = client_for(restarted).get("/api/state").json()
    assert (state["labelled"], state["position"]) == (3, 3)
    assert [i["label"] for i in state["items"][:4]] == ["good", "skip", "bad", None]
    assert client_for(restarted).get("/api/items/0").json()["note"] == "clean prose"
    # another reviewer starts from scratch on the same sample
    assert client_for(open_session(out, reviewer="bo")).get("/api/state").json()["labelled"] == 0
