"""Classifier steps inside `winnow curate`: scores as signal columns, a fixed threshold, and the
two-pass keep_top_fraction, with the accounting intact; `winnow select` re-thresholds the scores."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.curation.classifier_models import BAD_WORDS, GOOD_WORDS, sentences, train_tiny_fasttext

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _recipe(path: Path, model: Path, mode: str, threshold: float | None, fraction: float | None) -> str:
    steps = [
        {"language": {}},
        {"classifier_good": {"model": str(model), "threshold": threshold}},
        {"classifier_top": {"model": str(model), "keep_top_fraction": fraction}},
    ]
    path.write_text(yaml.safe_dump({"name": path.stem, "mode": mode, "steps": steps}))
    return str(path)


def _table(directory: Path, name: str) -> list[dict]:
    return [r for f in sorted((directory / name).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


@pytest.mark.slow
def test_classifiers_score_threshold_and_keep_the_top_fraction(tmp_path):
    from winnow.pipelines.run_curate import run_curate
    from winnow.select import run_select

    model = train_tiny_fasttext(tmp_path / "clf")
    docs = [{"id": f"g{i}", "text": t} for i, t in enumerate(sentences(GOOD_WORDS, 30, seed=7, length=40))]
    docs += [{"id": f"b{i}", "text": t} for i, t in enumerate(sentences(BAD_WORDS, 10, seed=8, length=40))]
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out"
    stats = run_curate(
        [str(source)], str(out), recipe=_recipe(tmp_path / "r.yaml", model, "annotate", 0.5, 0.5), beam_args=IN_MEMORY
    )
    assert stats["accounting"]["ok"] and stats["records_in"] == 40
    rejected = _table(out, "rejected")
    kept = _table(out, "documents")
    # Junk falls to the fixed threshold; half of the rest falls to the top-fraction cut.
    assert {r["id"][0] for r in rejected if r["stage"] == "classifier_good"} == {"b"}
    cut = [r for r in rejected if r["stage"] == "classifier_top"]
    assert cut and abs(len(kept) - len(cut)) <= 2, (len(kept), len(cut))
    assert min(r["classifier_top_score"] for r in kept) >= max(r["classifier_top_score"] for r in cut)
    assert all(r["classifier_good_score"] is not None for r in kept + rejected)
    # Re-threshold the stored scores: no classifier runs, the junk comes back.
    looser = run_select(str(out), _recipe(tmp_path / "l.yaml", model, "filter", 0.0, None), str(tmp_path / "sel"))
    assert looser["kept"] == 40 and looser["accounting"]["ok"]
    # The same cut from the stored scores: select's exact quantile equals Beam's on this small corpus.
    same = run_select(str(out), _recipe(tmp_path / "s.yaml", model, "filter", 0.5, 0.5), str(tmp_path / "same"))
    assert {r["id"] for r in _table(tmp_path / "same", "documents")} == {r["id"] for r in kept}
    assert same["rejected"] == stats["rejected"]
