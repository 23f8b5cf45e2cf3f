"""`winnow ablate calibrate` end to end at toy size, and `--calibrate` on an ablation's verdicts."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from winnow.ablate import annotate_with_calibration
from winnow.cli import main

NOUNS = ["cat", "dog", "bird", "farmer", "teacher", "river", "child", "doctor"]
VERBS = ["sees", "finds", "likes", "follows", "helps", "watches"]
ADJ = ["old", "small", "green", "quiet", "happy", "tall"]
FIELDS = ("agreement", "order")


def _sentence(rng: random.Random) -> str:
    return f"The {rng.choice(ADJ)} {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)} near the {rng.choice(NOUNS)}."


def _pages(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(_sentence(rng) for _ in range(rng.randint(6, 12))) for _ in range(count)]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("calibrate")
    clean = root / "clean.jsonl"
    clean.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(_pages(60, 1))), encoding="utf-8")
    eval_text = root / "reference.txt"
    eval_text.write_text("\n\n".join(_pages(8, 2)), encoding="utf-8")
    blimp = root / "blimp"
    blimp.mkdir()
    rng = random.Random(3)
    rows = []
    for i in range(12):
        a, b = rng.choice(NOUNS), rng.choice(NOUNS)
        rows.append({"sentence_good": f"The {a} sees the {b}.", "sentence_bad": f"The {a} see the {b}.", "UID": "agreement", "field": "morphology"})
    (blimp / "agreement.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    model = root / "model.yaml"
    model.write_text("n_layer: 1\nn_head: 2\nd_model: 32\nmax_seq_len: 32\n", encoding="utf-8")
    recipe = root / "rules.yaml"
    recipe.write_text(
        "name: rules\nsteps:\n  - language: {keep: [en], min_score: 0.3}\n"
        "  - gopher_repetition: {}\n  - gopher_quality: {min_words: 20, max_words: 100000}\n",
        encoding="utf-8",
    )
    return {"root": root, "clean": clean, "eval": eval_text, "blimp": blimp, "model": model, "recipe": recipe}


def _calibrate(toy, out: Path, *extra: str) -> int:
    return main([
        "ablate", "calibrate", "--clean", str(toy["clean"]), "--doses", "0.3,0.6", "--eval-text", str(toy["eval"]),
        "--output", str(out), "--seeds", "0", "1", "2", "--model", str(toy["model"]), "--vocab-size", "300",
        "--budget-tokens", "6144", "--blimp", str(toy["blimp"]), "--train", "batch_size=8", "--train", "lr=0.01",
        "--train", "warmup_steps=2", "--train", "threads=1", *extra,
    ])


@pytest.mark.slow
def test_calibrate_end_to_end(toy, capsys):
    out = toy["root"] / "run"
    assert _calibrate(toy, out, "--recipe", str(toy["recipe"])) == 0
    calibration = json.loads((out / "ablate" / "calibration.json").read_text())
    fields = {"dose", "metric", "mean_diff", "ci95", "p_value", "verdict"}
    assert {r["dose"] for r in calibration["doses"]} == {0.3, 0.6}
    assert {r["metric"] for r in calibration["doses"]} == {"eval_bpb", "blimp_acc", "heldout_bpb"}
    for key in ("doses", "aa", "data_dose"):
        assert calibration[key] and all(fields <= set(r) for r in calibration[key]), key
        assert all(r["verdict"] in ("better", "worse", "inconclusive") for r in calibration[key])
    assert all(r["dose"] == 0.0 for r in calibration["aa"]) and all(r["dose"] == 0.5 for r in calibration["data_dose"])
    # A/A: the same pages in another order must not be called different.
    assert calibration["aa_passed"] and all(r["verdict"] == "inconclusive" for r in calibration["aa"])
    assert "smallest_dose_detected" in calibration
    assert calibration["smallest_dose_detected"] in (None, 0.3, 0.6)
    # More junk, more damage to bits per byte on the clean reference.
    bpb = {r["dose"]: r["mean_diff"] for r in calibration["doses"] if r["metric"] == "eval_bpb"}
    assert bpb[0.6] > bpb[0.3] > 0
    arms = calibration["arms"]
    assert arms["clean-half"]["unique_tokens"] < arms["clean"]["unique_tokens"]
    assert arms["clean-half"]["epochs"] == pytest.approx(2 * arms["clean"]["epochs"], rel=0.2)
    tier0 = calibration["tier0"]["recipes"]["rules"]
    assert set(tier0) == {"language", "gopher_repetition", "gopher_quality", "(whole recipe)"}
    assert tier0["(whole recipe)"]["junk"] == round(60 * 0.6 / 0.4)
    results = json.loads((out / "ablate" / "results.json").read_text())
    assert results["baseline"] == "clean" and results["blimp"]["scored"]
    assert set(results["recipes"]["clean"]["blimp_fields"]) == {"morphology"}
    for name, row in results["recipes"].items():
        assert {"unique_tokens", "epochs", "metrics", "runs", "mean_bpb", "std_bpb", "documents", "tokens"} <= set(row)
        assert all(len(r["scores"]["checkpoints"]) == 3 for r in row["runs"])  # averaged over the last 3
        if name != "clean":
            assert set(row["vs_baseline"]["eval_bpb"]) == {"mean_diff", "ci95", "p_value", "verdict", "mde"}
    html = (out / "report.html").read_text()
    assert "Ablation calibration" in html and "Tier 0" in html and "A/A" in html
    assert "smallest dose detected" in capsys.readouterr().out

    # A rerun with the same settings trains nothing and gives the same file.
    before = (out / "ablate" / "calibration.json").read_text()
    assert _calibrate(toy, out, "--recipe", str(toy["recipe"])) == 0
    assert "up to date" in capsys.readouterr().err
    assert json.loads((out / "ablate" / "calibration.json").read_text())["doses"] == json.loads(before)["doses"]


def test_bad_calibrate_arguments_are_usage_errors(toy, tmp_path, capsys):
    assert _calibrate(toy, tmp_path / "a", "--doses", "0.3,1.5") == 2
    assert "--doses must be fractions" in capsys.readouterr().err
    assert main(["ablate", "calibrate", "--clean", str(tmp_path / "missing.jsonl"), "--eval-text", str(toy["eval"]), "--output", str(tmp_path / "b")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ablate", "calibrate", "--clean", str(toy["clean"]), "--eval-text", str(toy["eval"]), "--no-such-flag"])


def test_null_results_say_when_the_instrument_is_blind():
    row = {"mean_diff": 0.01, "ci95": [-0.1, 0.12], "p_value": 0.5, "verdict": "inconclusive", "mde": 0.2}
    results = {"comparisons": {"fineweb": {"eval_bpb": dict(row)}}, "calibration": {}}
    annotate_with_calibration(results, {"doses_tried": [0.1, 0.3, 0.6], "smallest_dose_detected": 0.6, "aa_passed": True})
    assert "could not detect 0.1 junk" in results["comparisons"]["fineweb"]["eval_bpb"]["note"]
    seeing = {"comparisons": {"fineweb": {"eval_bpb": dict(row)}}, "calibration": {}}
    annotate_with_calibration(seeing, {"doses_tried": [0.1, 0.3], "smallest_dose_detected": 0.1, "aa_passed": True})
    assert "note" not in seeing["comparisons"]["fineweb"]["eval_bpb"] and seeing["calibration"]["note"] is None


def test_a_beam_flag_value_is_not_taken_for_a_subcommand():
    from winnow.cli import build_parser

    parser = build_parser()
    args, extra = parser.parse_known_args(["ablate", "--recipe", "a", "--runner", "DirectRunner", "--output", "o", "--project", "p"])
    assert args.handler.__name__ == "_ablate" and args.output == "o"
    assert extra == ["--runner", "DirectRunner", "--project", "p"]
    args, extra = parser.parse_known_args(["ablate", "calibrate", "--clean", "c.jsonl", "--doses", "0.2"])
    assert args.handler.__name__ == "_calibrate" and args.clean == ["c.jsonl"] and extra == []


@pytest.mark.slow
def test_calibrate_in_anneal_mode_continues_one_base_per_seed(toy, tmp_path):
    base = tmp_path / "base.jsonl"
    base.write_text("".join(json.dumps({"id": f"b{i}", "text": t}) + "\n" for i, t in enumerate(_pages(80, 9))), encoding="utf-8")
    out = tmp_path / "anneal"
    assert main([
        "ablate", "calibrate", "--clean", str(toy["clean"]), "--doses", "0.6", "--eval-text", str(toy["eval"]), "--output", str(out),
        "--seeds", "0", "1", "--model", str(toy["model"]), "--vocab-size", "300", "--blimp", "", "--mode", "anneal", "--base", str(base),
        "--train", "batch_size=8", "--train", "lr=0.01", "--train", "warmup_steps=2", "--train", "threads=1", "--average-last", "2",
    ]) == 0
    calibration = json.loads((out / "ablate" / "calibration.json").read_text())
    assert calibration["mode"] == "anneal"
    info = json.loads((out / "anneal" / "anneal.json").read_text())
    # The anneal budget is 15% of the base tokens; every arm reads it.
    assert calibration["budget_tokens"] == round(0.15 * info["base_tokens"])
    for seed in (0, 1):
        run = out / "calibrate" / "clean" / "anneal" / f"train-seed{seed}"
        assert json.loads((run / "warm_start.json").read_text())["base_checkpoint"].endswith(".pt")
        assert f"train-seed{seed}" in info["bases"][str(seed)]
    # The anneal's learning rate decays to zero.
    rows = [json.loads(line) for line in (out / "calibrate" / "clean" / "anneal" / "train-seed0" / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if r.get("split") == "train"]
    assert lrs[-1] < 0.1 * max(lrs)
    assert "min_lr_ratio: 0.0" in (out / "calibrate" / "clean" / "anneal" / "train-seed0" / "config.yaml").read_text()
    assert {r["metric"] for r in calibration["aa"]} == {"eval_bpb", "heldout_bpb"}


def test_anneal_flags_are_checked(toy, tmp_path, capsys):
    common = ["ablate", "calibrate", "--clean", str(toy["clean"]), "--eval-text", str(toy["eval"]), "--output", str(tmp_path / "x")]
    assert main([*common, "--mode", "anneal"]) == 2
    assert "needs --base" in capsys.readouterr().err
    assert main([*common, "--base", str(toy["clean"])]) == 2
    assert "need --mode anneal" in capsys.readouterr().err
