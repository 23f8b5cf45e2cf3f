"""The ablation instrument's pure parts: budget planning, checkpoint averaging,
tier-0 removal rates, and the report's calibration section."""
from __future__ import annotations

import json

import numpy as np
import pytest

from winnow.ablation.arms import ArmError, checkpoint_spacing, plan_budget
from winnow.ablation.scoring import average_scores, metric_names
from winnow.ablation.tier0 import removal_rates, tier0_report


def test_budget_is_capped_at_max_epochs_of_the_smallest_arm():
    assert plan_budget(None, {"a": 1000, "b": 400}, 4.0) == (400, None)
    assert plan_budget(1200, {"a": 1000, "b": 400}, 4.0) == (1200, None)
    assert plan_budget(5000, {"a": 1000, "b": 400}, 4.0) == (1600, "b")
    assert plan_budget(5000, {"a": 1000, "b": 400}, None) == (5000, None)
    with pytest.raises(ArmError, match="no training tokens"):
        plan_budget(100, {"a": 0, "b": 10}, 4.0)


def test_scores_are_averaged_over_checkpoints():
    rows = [{"step": 8, "eval_bpb": 2.0, "blimp_acc": 0.5, "blimp_fields": {"syntax": 0.4}},
            {"step": 10, "eval_bpb": 1.0, "blimp_acc": 0.7, "blimp_fields": {"syntax": 0.6}}]
    avg = average_scores(rows)
    assert avg == {"eval_bpb": 1.5, "blimp_acc": pytest.approx(0.6), "blimp_fields": {"syntax": pytest.approx(0.5)}}
    assert metric_names({"heldout_bpb": 1.0, "blimp_acc": 0.5, "eval_bpb": 2.0, "eval_loss": 3.0}) == ["eval_bpb", "blimp_acc", "heldout_bpb"]


def test_removal_rates_and_intervals():
    is_junk = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    removed = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    errors = np.zeros(10, dtype=bool)
    r = removal_rates(is_junk, removed, errors)
    assert (r["junk_removed"], r["clean_removed"], r["precision"], r["recall"]) == (3, 1, 0.75, 0.75)
    assert r["precision_ci95"][0] <= 0.75 <= r["precision_ci95"][1]
    assert r["recall_ci95"][0] <= 0.75 <= r["recall_ci95"][1]
    # A page a step failed on is counted, not judged.
    errors[0] = True
    r = removal_rates(is_junk, removed, errors)
    assert r["errors"] == 1 and r["junk"] == 3 and r["recall"] == pytest.approx(2 / 3)
    nothing = removal_rates(is_junk, np.zeros(10, dtype=bool), np.zeros(10, dtype=bool))
    assert nothing["precision"] is None and nothing["precision_ci95"] == [None, None] and nothing["recall"] == 0.0


def test_tier0_runs_each_step_alone_and_the_whole_recipe(tmp_path):
    recipe = tmp_path / "short.yaml"
    recipe.write_text("name: short\nsteps:\n  - language: {keep: [en], min_score: 0.0}\n  - gopher_quality: {min_words: 20, min_stop_words: 1}\n")
    clean = [(f"c{i}", "The river runs to the sea and the rain falls on the hills near the town. " * 3) for i in range(5)]
    junk = [(f"j{i}", "Home | About | Contact") for i in range(3)]
    report = tier0_report([str(recipe)], clean, junk)
    steps = report["recipes"]["short"]
    assert set(steps) == {"language", "gopher_quality", "(whole recipe)"}
    assert steps["gopher_quality"]["junk_removed"] == 3 and steps["gopher_quality"]["clean_removed"] == 0
    assert steps["(whole recipe)"]["precision"] == 1.0 and steps["(whole recipe)"]["recall"] == 1.0


def test_report_shows_the_calibration_section(tmp_path):
    from winnow.report import build_sections

    row = {"metric": "eval_bpb", "mean_diff": 0.1, "ci95": [0.05, 0.15], "p_value": 0.004, "verdict": "worse", "mde": 0.08}
    calibration = {
        "primary_metric": "eval_bpb", "alpha": 0.01, "seeds": [0, 1, 2], "budget_tokens": 1000, "model": "tiny",
        "doses": [{**row, "dose": 0.3}, {**row, "dose": 0.1, "verdict": "inconclusive", "p_value": 0.2}],
        "aa": [{**row, "dose": 0.0, "mean_diff": 0.0, "verdict": "inconclusive", "p_value": 0.9}],
        "data_dose": [{**row, "dose": 0.5}], "aa_passed": True, "smallest_dose_detected": 0.3, "doses_tried": [0.1, 0.3],
    }
    (tmp_path / "ablate").mkdir()
    (tmp_path / "ablate" / "calibration.json").write_text(json.dumps(calibration))
    section = {s.key: s for s in build_sections(tmp_path)}["calibration"]
    assert section.status == "ok" and section.data["smallest_dose_detected"] == 0.3
    from winnow.report.calibration import html_calibration

    html = html_calibration(section.data)
    assert "junk 0.3" in html and "A/A" in html and "<img" in html
    (tmp_path / "ablate" / "calibration.json").write_text(json.dumps({**calibration, "aa": [{"metric": "eval_bpb"}]}))
    assert {s.key: s for s in build_sections(tmp_path)}["calibration"].status == "error"


def test_calibration_arms_from_clean_and_given_junk(tmp_path):
    from winnow.ablation.calibrate import CalibrationError, build_arms, junk_pages, read_corpus, read_pages

    clean_file = tmp_path / "clean.jsonl"
    clean_file.write_text("".join(json.dumps({"id": str(i), "text": f"Clean page number {i} about rivers and hills."}) + "\n" for i in range(10)))
    junk_file = tmp_path / "junk.txt"
    junk_file.write_text("Buy now! Cheap deals!")
    clean = read_pages([str(clean_file)], "clean")
    assert clean[0] == ("clean.jsonl/0", "Clean page number 0 about rivers and hills.")
    given = read_pages([str(junk_file)], "junk")
    with pytest.raises(CalibrationError, match="needs 4 junk pages, --junk has 1"):
        junk_pages(clean, 0.3, given)
    assert junk_pages(clean, 0.05, given) == given[:1]
    with pytest.raises(CalibrationError, match="no such file"):
        read_pages([str(tmp_path / "none-*.jsonl")], "clean")

    arms = {a.name: a for a in build_arms(clean, [0.2, 0.5], None, tmp_path / "cal")}
    assert list(arms) == ["clean", "clean-aa", "clean-half", "junk-0.2", "junk-0.5"]
    baseline, aa = read_corpus(arms["clean"].documents), read_corpus(arms["clean-aa"].documents)
    assert sorted(aa) == sorted(baseline) == sorted(clean)
    assert baseline != clean and aa != baseline  # every arm in a random order, the A/A copy in its own
    assert len(read_corpus(arms["clean-half"].documents)) == 5
    dosed = read_corpus(arms["junk-0.5"].documents)
    junk_ids = [i for i, _ in dosed if i.startswith("junk-")]
    assert len(junk_ids) == 10 and arms["junk-0.5"].info["junk_pages"] == 10
    # A larger dose holds every junk page of a smaller one.
    small = {i for i, _ in read_corpus(arms["junk-0.2"].documents) if i.startswith("junk-")}
    assert small <= set(junk_ids) and len(small) == 2


@pytest.mark.parametrize("steps, every", [(49, 7), (100, 10), (98, 7), (3, 1), (1, 1), (97, 10), (60, 6)])
def test_checkpoints_are_evenly_spaced_near_the_end(steps, every):
    assert checkpoint_spacing(steps) == every
