"""`winnow select`: re-deciding stored signals equals curating again with the new thresholds."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from winnow.cli import main as cli_main
from winnow.demo.sample_warc import SampleSpec, write_sample_warc
from winnow.pipelines.run_curate import run_curate
from winnow.select import SelectError, run_select

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def recipe_file(tmp_path: Path, name: str, mode: str, **overrides: dict) -> str:
    """The built-in fineweb recipe with some step settings replaced."""
    data = yaml.safe_load((resources.files("winnow.recipes") / "fineweb.yaml").read_text())
    data["name"], data["mode"] = name, mode
    for step in data["steps"]:
        (step_name, params), = step.items()
        if step_name in overrides:
            params.update(overrides[step_name])
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def table(directory: Path, name: str) -> list[dict]:
    return [row for f in sorted((directory / name).glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


LOOSE = {
    "gopher_quality": {"min_words": 5}, "gopher_repetition": {"max_dup_5gram_char_frac": 0.6},
    "fineweb": {"min_line_punct_ratio": 0.0, "max_dup_line_char_ratio": 0.5}, "language": {"keep": None, "min_score": 0.0},
}


@pytest.fixture(scope="module")
def annotated(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("select")
    warc = tmp / "sample.warc.gz"
    write_sample_warc(warc, SampleSpec(pages=40, seed=3))
    out = tmp / "annotated"
    stats = run_curate([str(warc)], str(out), recipe=recipe_file(tmp, "fineweb-annotate", "annotate"), beam_args=IN_MEMORY)
    assert stats["accounting"]["ok"] and stats["mode"] == "annotate"
    return tmp, out


def test_annotate_mode_stores_every_signal_on_rejected_rows(annotated):
    _, out = annotated
    # Thin sample pages fail DataTrove's top 2-gram rule (it counts an n-gram that occurs once) first.
    rejected = [r for r in table(out, "rejected") if r["stage"] in ("gopher_repetition", "gopher_quality")]
    assert rejected, "the sample has pages the Gopher steps reject"
    assert all(
        r["gopher_quality_word_count"] is not None and r["fineweb_line_punct_ratio"] is not None
        and r["c4_sentence_count"] is not None for r in rejected
    )


@pytest.mark.slow
def test_select_equals_curating_again_with_the_new_thresholds(annotated, tmp_path):
    tmp, out = annotated
    same = run_select(str(out), recipe_file(tmp_path, "same", "filter"), str(tmp_path / "same"))
    curated = json.loads((out / "stats.json").read_text())
    assert {r["id"] for r in table(tmp_path / "same", "documents")} == {r["id"] for r in table(out, "documents")}
    assert same["rejected"] == curated["rejected"] and same["accounting"]["ok"]

    loose = recipe_file(tmp_path, "loose", "filter", **LOOSE)
    selected = run_select(str(out), loose, str(tmp_path / "selected"))
    recurated = run_curate([str(tmp / "sample.warc.gz")], str(tmp_path / "recurated"), recipe=loose, beam_args=IN_MEMORY)
    assert selected["kept"] > curated["kept"], "looser thresholds keep more"
    for key in ("records_in", "kept", "rejected_total", "errors", "rejected", "errors_by_stage", "languages"):
        assert selected[key] == recurated[key], key
    kept_selected = {r["id"]: r["text"] for r in table(tmp_path / "selected", "documents")}
    kept_recurated = {r["id"]: r["text"] for r in table(tmp_path / "recurated", "documents")}
    assert kept_selected == kept_recurated


def test_select_refuses_what_it_cannot_decide(annotated, tmp_path):
    tmp, out = annotated
    with pytest.raises(SelectError, match="line rules|change the signals"):
        run_select(str(out), recipe_file(tmp_path, "lines", "filter", c4={"min_words_per_line": 1}), str(tmp_path / "a"))
    extra = recipe_file(tmp_path, "extra", "filter")
    data = yaml.safe_load(Path(extra).read_text())
    data["steps"] = [s for s in data["steps"] if "fineweb" not in s]
    Path(extra).write_text(yaml.safe_dump(data))
    # Dropping a step is fine; its rejections come back as kept or as another step's.
    dropped = run_select(str(out), extra, str(tmp_path / "b"))
    assert "fineweb" not in dropped["rejected"] and dropped["accounting"]["ok"]
    with pytest.raises(SelectError, match="already holds"):
        run_select(str(out), extra, str(tmp_path / "b"))


def test_select_needs_an_annotate_mode_output(tmp_path, annotated):
    _, out = annotated
    filtered = tmp_path / "filtered"
    filtered.mkdir()
    stats = json.loads((out / "stats.json").read_text())
    stats["mode"] = "filter"
    (filtered / "stats.json").write_text(json.dumps(stats))
    with pytest.raises(SelectError, match="filter mode"):
        run_select(str(filtered), "fineweb", str(tmp_path / "o"))
    with pytest.raises(SelectError, match="no stats.json"):
        run_select(str(tmp_path / "missing"), "fineweb", str(tmp_path / "o"))


def test_cli_prints_the_split(annotated, tmp_path, capsys):
    _, out = annotated
    assert cli_main(["select", str(out), "--recipe", recipe_file(tmp_path, "c", "filter"), "--output", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    # The same tables as `winnow curate`: reasons by stage, one row each, and the accounting line.
    assert "rejected by stage and reason" in printed and "winnow select" in printed
    assert "gopher_repetition" in printed and ": holds" in printed
    stats = json.loads((tmp_path / "c" / "stats.json").read_text())
    assert stats["rejected"]["gopher_repetition"]
    for reason in stats["rejected"]["gopher_repetition"]:
        assert reason in printed
    assert cli_main(["select", str(tmp_path / "nope"), "--recipe", "fineweb", "--output", str(tmp_path / "d")]) == 2


def test_select_refuses_outputs_of_an_older_schema_version(annotated, tmp_path):
    """Signals of schema version 1 were computed another way: select says to curate again."""
    import shutil

    from winnow import schemas

    _, out = annotated
    old = tmp_path / "old"
    shutil.copytree(out, old)
    part = sorted((old / "documents").glob("*.parquet"))[0]
    stored = pq.read_table(part)
    metadata = {**stored.schema.metadata, schemas.META_VERSION: b"1"}
    pq.write_table(stored.replace_schema_metadata(metadata), part)
    assert pq.read_schema(part).metadata[schemas.META_VERSION] == b"1"
    with pytest.raises(SelectError, match="schema version 1.*curate again"):
        run_select(str(old), "fineweb", str(tmp_path / "o"))


def test_decision_only_options_are_re_decided_and_text_options_refused(annotated, tmp_path):
    """The options that depart from DataTrove: decision-only ones work on stored signals; C4's need curation."""
    _, out = annotated
    options = recipe_file(
        tmp_path, "options", "filter",
        gopher_quality={"alpha_ratio_over": "words", "skip_spaceless_scripts": True},
        gopher_repetition={"skip_spaceless_scripts": True},
        fineweb={"line_punct_exclude_zero": True, "skip_spaceless_scripts": True},
    )
    stats = run_select(str(out), options, str(tmp_path / "options"))
    assert stats["accounting"]["ok"]
    tfds = recipe_file(tmp_path, "tfds", "filter", c4={"end_marks": [".", "?", "!", '"']})
    with pytest.raises(SelectError, match="end_marks"):
        run_select(str(out), tfds, str(tmp_path / "tfds"))
