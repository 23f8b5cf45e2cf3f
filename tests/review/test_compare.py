"""Blind comparison of two runs: same prompts and seeds, shuffled sides, hidden names, votes in both runs."""
from __future__ import annotations

import shutil

import pytest

pytest.importorskip("torch")
from starlette.testclient import TestClient  # noqa: E402

from tests.training.evaluate_helpers import make_model, make_tokenizer, write_run  # noqa: E402
from winnow.cli import main  # noqa: E402
from winnow.review.compare import (  # noqa: E402
    CompareSession, create_compare_app, generate_items, plan_items, read_prompts,
)
from winnow.review.labels import LabelsError, read_votes  # noqa: E402
from winnow.review.stats import review_summary, vote_summary  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tokenizer, path = make_tokenizer(root)
    a = write_run(root / "run-alpha", make_model(tokenizer.get_vocab_size(), seed=1), path)
    b = write_run(root / "run-beta", make_model(tokenizer.get_vocab_size(), seed=2), path)
    return a, b


def test_prompts_files(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("The cat\n\nA river\n")
    assert read_prompts(txt) == ["The cat", "A river"]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "The cat"}\n"A river"\n')
    assert read_prompts(jsonl) == ["The cat", "A river"]
    jsonl.write_text('{"text": "x"}\n')
    with pytest.raises(LabelsError, match=r"p.jsonl:1: expected a string or an object"):
        read_prompts(jsonl)
    txt.write_text("\n \n")
    with pytest.raises(LabelsError, match="no prompts found"):
        read_prompts(txt)
    with pytest.raises(LabelsError, match="no such file"):
        read_prompts(tmp_path / "none.txt")


def test_plan_is_deterministic_and_shuffles_sides():
    items = plan_items(["The cat", "A river"], 40, seed=5)
    assert [i.id for i in items] == [i.id for i in plan_items(["The cat", "A river"], 40, seed=5)]
    assert [i.left for i in items] != [i.left for i in plan_items(["The cat", "A river"], 40, seed=6)]
    assert {i.left for i in items} == {"a", "b"} and len({i.id for i in items}) == 40
    assert items[0].prompt == "The cat" and items[1].prompt == "A river" and items[2].prompt == "The cat"


@pytest.mark.slow
def test_blind_vote_flow(runs, tmp_path):
    a, b = runs
    items = generate_items(a, b, plan_items(["The cat", ""], 4, seed=0), 6, 0.8, None, "cpu")
    assert all(i.text_a != i.text_b for i in items)  # two different models, same seed
    again = generate_items(a, b, plan_items(["The cat", ""], 4, seed=0), 6, 0.8, None, "cpu")
    assert [i.text_a for i in again] == [i.text_a for i in items]
    session = CompareSession(a, b, items, "ana")
    client = TestClient(create_compare_app(session, extra_hosts=["testserver"]))
    page = client.get("/").text
    assert "run-alpha" not in page and "run-beta" not in page
    assert "run-alpha" not in client.get("/api/items/0").text and "run-alpha" not in client.get("/api/state").text
    assert client.get("/api/reveal").status_code == 409
    headers = {"X-Review-Token": session.token}
    assert client.post("/api/items/0/vote", json={"vote": "left"}).status_code == 403
    assert client.post("/api/items/0/vote", json={"vote": "A"}, headers=headers).status_code == 400
    shown = client.get("/api/items/0").json()
    left_run = items[0].left
    assert shown["left"] == (items[0].text_a if left_run == "a" else items[0].text_b)
    for index, side in enumerate(("left", "right", "tie", "left")):
        state = client.post(f"/api/items/{index}/vote", json={"vote": side, "note": "n"}, headers=headers).json()
    assert state == {"voted": 4, "total": 4, "position": 0, "done": True}
    expected = [items[0].left, "b" if items[1].left == "a" else "a", "tie", items[3].left]
    stored = {r["id"]: r["vote"] for r in read_votes(a).to_pylist()}
    assert [stored[i.id] for i in items] == expected
    assert read_votes(b).num_rows == 4  # both runs hold the votes
    reveal = client.get("/api/reveal").json()
    assert (reveal["run_a"], reveal["run_b"]) == ("run-alpha", "run-beta")
    assert reveal["a_wins"] == expected.count("a") and reveal["ties"] == 1

    summary = vote_summary(b)[0]
    assert summary["name_a"] == "run-alpha" and summary["votes"] == 4
    assert review_summary(a)["comparisons"][0]["a_wins"] == expected.count("a")
    resumed = CompareSession(a, b, items, "ana")
    assert resumed.state()["done"] and resumed.item(1)["vote"] == "right"
    assert CompareSession(a, b, items, "bo").state()["voted"] == 0
    with pytest.raises(LabelsError, match="same run"):
        CompareSession(a, a, items, "ana")


def test_compare_command_errors(runs, tmp_path, capsys):
    a, _ = runs
    assert main(["review", "compare", "--run", str(a)]) == 2
    assert "exactly two --run" in capsys.readouterr().err
    assert main(["review", "compare", "--run", str(a), "--run", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["review", "compare", "--run", str(tmp_path / "empty"), "--run", str(a), "--samples", "1",
                 "--max-new-tokens", "2", "--device", "cpu", "--port", "0"]) == 2
    assert "tokenizer.json" in capsys.readouterr().err
    # A prompts file that names nothing exits 2; one that is malformed, or a corrupt checkpoint, exits 3.
    a_b = ["--run", str(a), "--run", str(runs[1]), "--samples", "1", "--max-new-tokens", "2", "--device", "cpu", "--port", "0"]
    assert main(["review", "compare", *a_b, "--prompts", str(tmp_path / "absent.txt")]) == 2
    assert "absent.txt: no such file" in capsys.readouterr().err
    malformed = tmp_path / "p.jsonl"
    malformed.write_text('{"text": "x"}\n')
    assert main(["review", "compare", *a_b, "--prompts", str(malformed)]) == 3
    assert "p.jsonl:1: expected a string or an object" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(a, broken)
    for checkpoint in (broken / "checkpoints").glob("step-*.pt"):
        checkpoint.write_bytes(b"not a checkpoint")
    assert main(["review", "compare", "--run", str(broken), *a_b[2:]]) == 3
    assert "cannot read checkpoint (truncated or corrupt?)" in capsys.readouterr().err
