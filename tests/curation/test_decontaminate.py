"""Decontamination: planted evaluation passages, exact and lightly edited, and every eval-set format."""
from __future__ import annotations

import gzip
import json
import pickle
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.curation.config import RecipeError, config_from_mapping
from winnow.curation.decontaminate import (
    CONTAMINATED,
    DECONTAMINATE_STEP,
    DecontaminateConfig,
    build_index,
    decide,
    prepare,
    set_name,
    text_ngrams,
)
from winnow.curation.types import Document

WORDS = (
    "amber basin cedar delta ember fjord grove harbor inlet juniper kestrel lagoon meadow nectar orchard prairie "
    "quarry ravine summit tundra upland valley willow yarrow zephyr acorn bramble canyon dune estuary fern glacier"
).split()
EVAL_PASSAGE = (
    "The committee reviewed the proposal for the new bridge across the river and concluded that the "
    "eastern approach would require fewer supporting pillars than the western one."
)
QUESTION = {"ctx": "A chef slices an onion on a wooden board and then", "endings": ["sings loudly", "adds it to the hot pan with butter", "x y", "z"], "label": 1}


def _open(path):
    return open(path, "rb")


def _filler(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


@pytest.fixture()
def eval_files(tmp_path):
    text = tmp_path / "heldout_news.txt"
    text.write_text(EVAL_PASSAGE + "\n\nA second paragraph that is far too short.\n")
    tasks = tmp_path / "hellaswag.jsonl"
    tasks.write_text(json.dumps(QUESTION) + "\n" + json.dumps({"text": "plain text rows are accepted too in task files " * 2}) + "\n")
    parquet = tmp_path / "wiki_eval.parquet"
    pq.write_table(pa.table({"body": ["Quantum chromodynamics describes the strong interaction between quarks and gluons inside every hadron."]}), parquet)
    return text, tasks, parquet


def _step(paths, **overrides):
    config = DecontaminateConfig(eval=tuple(map(str, paths)), **overrides)
    index = prepare(config, _open)
    return config, index, DECONTAMINATE_STEP.build(config, index)


def test_exact_planted_passage_is_rejected_and_names_the_set(eval_files):
    text, tasks, _ = eval_files
    _, _, step = _step([text, tasks], ngram=8)
    rng = random.Random(1)
    doc = Document(f"{_filler(rng, 80)} {EVAL_PASSAGE} {_filler(rng, 80)}")
    result = step(doc)
    assert result.reason == CONTAMINATED
    assert result.detail.startswith("heldout_news:")
    assert result.signals["decontaminate_set"] == "heldout_news"
    assert result.signals["decontaminate_matched_ngrams"] == len(EVAL_PASSAGE.split()) - 8 + 1
    clean = step(Document(_filler(rng, 300)))
    assert clean.kept and clean.signals["decontaminate_matched_ngrams"] == 0 and clean.signals["decontaminate_set"] == ""


def test_lightly_edited_passage_is_still_found(eval_files):
    text, _, _ = eval_files
    _, _, step = _step([text])  # the default: 13-grams
    edited = EVAL_PASSAGE.upper().replace(",", "").replace(" the ", "  THE\n").replace(".", "!!")
    # one changed word leaves 13-grams on either side of it
    edited = edited.replace("PROPOSAL", "PLAN")
    result = step(Document("Some intro. " + edited + " Outro."))
    assert result.reason == CONTAMINATED and result.signals["decontaminate_matched_ngrams"] > 0
    # too many edits: no 13 consecutive words survive
    words = EVAL_PASSAGE.split()
    scrambled = " ".join(w if i % 6 else "changed" for i, w in enumerate(words))
    assert step(Document(scrambled)).kept


def test_multiple_choice_and_parquet_sets(eval_files):
    _, tasks, parquet = eval_files
    _, index, step = _step([tasks, parquet], ngram=6, eval_text_column="body")
    assert index.set_names == ("hellaswag", "wiki_eval")
    hit = step(Document("Video: a chef slices an onion on a wooden board, and then adds it to the hot pan."))
    assert hit.reason == CONTAMINATED and hit.signals["decontaminate_set"] == "hellaswag"
    wiki = step(Document("Intro. Quantum Chromodynamics describes the strong interaction between quarks."))
    assert wiki.signals["decontaminate_set"] == "wiki_eval"


def test_remove_spans_cuts_only_the_overlap(eval_files):
    text, _, _ = eval_files
    _, _, step = _step([text], ngram=8, action="remove_spans")
    before, after = "Local news today.", "Weather tomorrow is sunny."
    result = step(Document(f"{before} {EVAL_PASSAGE} {after}"))
    assert result.kept
    assert "bridge" not in result.text and result.text.startswith(before) and result.text.endswith(after)
    assert result.signals["decontaminate_chars_removed"] == len(f"{before} {EVAL_PASSAGE} {after}") - len(result.text)
    only = step(Document(EVAL_PASSAGE))
    assert only.reason == CONTAMINATED and only.signals["decontaminate_emptied"]
    assert step(Document("nothing in common here at all")).text is None


def test_decide_matches_the_step_and_rethresholds(eval_files):
    text, _, _ = eval_files
    config, _, step = _step([text], ngram=8)
    result = step(Document(EVAL_PASSAGE))
    assert decide(config, result.signals) == (result.reason, result.detail)
    stricter = DecontaminateConfig(eval=config.eval, ngram=8, min_matches=100)
    assert decide(stricter, result.signals) is None


def test_shared_ngram_counts_in_every_set(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(EVAL_PASSAGE)
    b.write_text(EVAL_PASSAGE + " And more words after it for the second set.")
    _, index, step = _step([a, b], ngram=8)
    result = step(Document(EVAL_PASSAGE))
    assert set(result.signals["decontaminate_set"].split(",")) == {"a", "b"}
    assert pickle.loads(pickle.dumps(index)).set_names == ("a", "b")


def test_index_is_compact_and_sorted():
    rng = random.Random(0)
    texts = [_filler(rng, 50) for _ in range(100)]
    index = build_index([("s", texts)], 13)
    assert index.hashes.dtype.name == "uint64" and index.set_ids.dtype.name == "uint16"
    assert (index.hashes[1:] >= index.hashes[:-1]).all()
    assert index.nbytes == 10 * len(index.hashes) and len(index.hashes) <= 100 * 38


def test_eval_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ctx": "a", "endings": ["b"], "label": 0}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        _step([bad])
    short = tmp_path / "short.txt"
    short.write_text("too short to matter")
    with pytest.raises(ValueError, match="short.*no text with 13 or more words"):
        _step([short])
    with pytest.raises(ValueError, match="missing.txt"):
        _step([tmp_path / "missing.txt"])
    odd = tmp_path / "x.csv"
    odd.write_text("a,b")
    with pytest.raises(ValueError, match=r"x\.csv: unknown evaluation file type"):
        _step([odd])
    pq.write_table(pa.table({"q": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(ValueError, match=r"p\.parquet: no column 'text'"):
        _step([tmp_path / "p.parquet"])


def test_gzip_text_and_duplicate_stems(tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "test").mkdir()
    (tmp_path / "dev" / "set.txt.gz").write_bytes(gzip.compress(EVAL_PASSAGE.encode()))
    (tmp_path / "test" / "set.txt").write_text(EVAL_PASSAGE)
    _, index, _ = _step([tmp_path / "dev" / "set.txt.gz", tmp_path / "test" / "set.txt"])
    assert index.set_names == ("set", "set#2")
    assert set_name("gs://b/evals/arc_easy.jsonl") == "arc_easy"


def test_config_from_recipe_mapping():
    config = config_from_mapping(DecontaminateConfig, {"eval": ["a.txt"], "ngram": 8, "action": "remove_spans"}, "step decontaminate")
    assert config.eval == ("a.txt",) and config.ngram == 8
    with pytest.raises(RecipeError, match="action"):
        config_from_mapping(DecontaminateConfig, {"eval": ["a.txt"], "action": "delete"}, "step decontaminate")
    with pytest.raises(RecipeError, match="at least one evaluation file"):
        config_from_mapping(DecontaminateConfig, {}, "step decontaminate")


def test_normalization_ignores_case_punctuation_and_spacing():
    a = text_ngrams("Hello, World! This is — a test.", 3)
    b = text_ngrams("hello world this   IS a\ntest", 3)
    assert (a == b).all() and len(a) == 4


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300))
def test_arbitrary_text_never_raises(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("ev") / "e.txt"
    path.write_text(EVAL_PASSAGE)
    for action in ("reject", "remove_spans"):
        _, _, step = _step([path], ngram=3, action=action)
        result = step(Document(text))
        assert set(result.signals) == {c for c, _ in DECONTAMINATE_STEP.signals}
        assert result.signals["decontaminate_chars_removed"] >= 0
        assert result.text is None or len(result.text) <= len(text)


def test_run_evaluation_files_and_derived_recipe(tmp_path):
    import yaml

    from winnow.curation.decontaminate import evaluation_files, recipe_with_decontamination
    from winnow.curation.recipe import parse_recipe

    pq.write_table(pa.table({"text": [EVAL_PASSAGE]}), tmp_path / "held.parquet")
    section = {"tasks": ["builtin:copy", "sentences:val", "evals/hellaswag.jsonl"], "text": str(tmp_path)}
    assert evaluation_files(section) == ["evals/hellaswag.jsonl", str(tmp_path / "held.parquet")]
    assert evaluation_files({"tasks": ["builtin:copy"]}) == []
    recipe = "name: r\nsteps:\n  - language: {keep: [en]}\n  - c4: {}\n"
    derived = recipe_with_decontamination(recipe, ["a.jsonl"], "r.yaml")
    parsed = parse_recipe(yaml.safe_load(derived), "derived")
    assert [s.name for s in parsed.steps] == ["language", "c4", "decontaminate"]
    assert parsed.config_of("decontaminate").eval == ("a.jsonl",)
    own = recipe + "  - decontaminate: {eval: [b.txt], ngram: 8}\n"
    assert recipe_with_decontamination(own, ["a.jsonl"], "r.yaml") is None
