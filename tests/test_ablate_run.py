"""`winnow ablate` on two recipes at toy size: comparisons, epochs, and --calibrate."""
from __future__ import annotations

import json

import pytest

from tests.test_ablate_calibrate import _pages
from winnow.cli import main


@pytest.mark.slow
def test_ablate_two_recipes_with_calibration(tmp_path, capsys):
    pages = _pages(50, 5)
    corpus = tmp_path / "pages.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "url": f"https://example.org/{i}", "text": t}) + "\n" for i, t in enumerate(pages)), encoding="utf-8")
    (tmp_path / "reference.txt").write_text("\n\n".join(_pages(6, 6)), encoding="utf-8")
    (tmp_path / "model.yaml").write_text("n_layer: 1\nn_head: 2\nd_model: 32\nmax_seq_len: 32\n", encoding="utf-8")
    (tmp_path / "all.yaml").write_text("name: all\nsteps:\n  - language: {keep: [en], min_score: 0.0}\n", encoding="utf-8")
    # Keeps about half the pages (long ones): a smaller corpus, read more often.
    (tmp_path / "long.yaml").write_text("name: long\nsteps:\n  - language: {keep: [en], min_score: 0.0}\n  - gopher_quality: {min_words: 85, min_stop_words: 1}\n", encoding="utf-8")
    out = tmp_path / "run"
    code = main([
        "ablate", "--recipe", str(tmp_path / "all.yaml"), "--recipe", str(tmp_path / "long.yaml"), "--input", str(corpus),
        "--eval-text", str(tmp_path / "reference.txt"), "--output", str(out), "--seeds", "0", "1", "--model", str(tmp_path / "model.yaml"),
        "--vocab-size", "300", "--budget-tokens", "100000", "--blimp", "", "--max-epochs", "2", "--calibrate", "--doses", "0.5",
        "--train", "batch_size=8", "--train", "lr=0.01", "--train", "warmup_steps=2", "--train", "threads=1", "--average-last", "2",
        "--eval-tokens", "500",
    ])
    assert code == 0
    results = json.loads((out / "ablate" / "results.json").read_text())
    assert results["baseline"] == "all" and results["budget_tokens_requested"] == 100000
    long, every = results["recipes"]["long"], results["recipes"]["all"]
    assert long["unique_tokens"] < every["unique_tokens"]
    # The budget was lowered so the smallest corpus is read at most twice.
    assert results["budget_capped_by"] == "long" and results["budget_tokens"] == 2 * long["unique_tokens"]
    assert long["epochs"] == pytest.approx(2.0)
    assert results["non_embedding_params"] > 0
    # --eval-tokens caps what is scored: the reference text is cut at 500 predicted tokens.
    assert all(c["eval_text_tokens"] == 500 for c in results["recipes"]["all"]["runs"][0]["scores"]["checkpoints"])
    assert results["tokens_per_parameter"] == pytest.approx(results["budget_tokens"] / results["non_embedding_params"])
    assert results["blimp"] == {"dir": None, "scored": False, "skipped": "no BLiMP directory", "pairs": 0}
    comparison = results["comparisons"]["long"]["eval_bpb"]
    assert comparison["n"] == 2 and set(long["vs_baseline"]["eval_bpb"]) == {"mean_diff", "ci95", "p_value", "verdict", "mde"}
    assert "smallest_dose_detected" in results["calibration"]
    if comparison["verdict"] == "inconclusive" and results["calibration"]["smallest_dose_detected"] is None:
        assert "cannot tell at this budget" in comparison["note"]
    assert (out / "ablate" / "calibration.json").is_file()
    printed = capsys.readouterr().out
    assert f"ablation: {results['budget_tokens']:,} tokens per model" in printed
