"""Mixing: plan proportions and repeat caps, determinism, rehydration, the executor and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow import schemas
from winnow.curation.mix import BY_DOCUMENTS, MixConfig, SourceDocs, plan_mix, share_warnings, token_estimate
from winnow.mix import MANIFEST, MixError, read_manifest, run_mix


def _sources(seed=0):
    rng = np.random.default_rng(seed)
    return [
        SourceDocs("web", rng.integers(100, 5000, 20_000)),
        SourceDocs("books", rng.integers(10_000, 200_000, 30)),
        SourceDocs("wiki", rng.integers(500, 8000, 1000)),
    ]


WEIGHTS = {"web": 0.7, "books": 0.2, "wiki": 0.1}


def test_realized_proportions_within_one_percent_and_cap_respected():
    plan = plan_mix(_sources(), MixConfig(WEIGHTS))
    for name, share in plan.realized().items():
        assert abs(share - WEIGHTS[name]) < 0.01, (name, share)
    by = {s.name: s for s in plan.sources}
    assert by["books"].repetitions <= 4.0 + 1e-9 and by["books"].max_copies <= 4
    # books is too small: it is the one capped at 4 repeats, so web is subsampled a little
    assert by["books"].repetitions == pytest.approx(4.0, rel=0.01)
    assert by["web"].repetitions < 1.0 and by["web"].max_copies == 1


def test_richest_source_used_once_when_cap_not_binding():
    weights = {"web": 0.8, "books": 0.1, "wiki": 0.1}
    plan = plan_mix(_sources(), MixConfig(weights))
    by = {s.name: s for s in plan.sources}
    assert by["web"].repetitions == pytest.approx(1.0, abs=1e-3)
    assert 1.0 < by["wiki"].repetitions <= 4.0
    for name, share in plan.realized().items():
        assert abs(share - weights[name]) < 0.01


def test_same_seed_same_plan_other_seed_other_sample():
    a = plan_mix(_sources(), MixConfig(WEIGHTS, seed=3))
    b = plan_mix(list(reversed(_sources())), MixConfig(WEIGHTS, seed=3))
    c = plan_mix(_sources(), MixConfig(WEIGHTS, seed=4))
    for x, y in zip(a.sources, b.sources):
        assert np.array_equal(x.copies, y.copies)
    assert not np.array_equal(a.sources[1].copies, c.sources[1].copies)


def _one_unit_each(sources):
    return [SourceDocs(s.name, np.ones(len(s.units), dtype=np.int64)) for s in sources]


def test_by_documents_and_fixed_total():
    plan = plan_mix(_one_unit_each(_sources()), MixConfig(WEIGHTS, by=BY_DOCUMENTS, total=100))
    assert {s.name: s.units for s in plan.sources} == {"web": 70, "books": 20, "wiki": 10}
    with pytest.raises(ValueError, match="'books'.*max_repeats"):
        plan_mix(_one_unit_each(_sources()), MixConfig(WEIGHTS, by=BY_DOCUMENTS, total=10_000))


def test_rehydration_repeats_large_clusters():
    units = np.full(1000, 100)
    clusters = np.ones(1000, dtype=np.int64)
    clusters[:100] = 10  # capped at max_repeats (4)
    sources = [SourceDocs("a", units, clusters), SourceDocs("b", np.full(5000, 100))]
    plan = plan_mix(sources, MixConfig({"a": 0.2, "b": 0.8}, rehydrate=True))
    a = plan.sources[0]
    assert a.copies[:100].mean() > 3 * a.copies[100:].mean()
    assert a.max_copies <= 4  # rehydration never takes a document past the cap
    # once a source needs every document at the cap, rehydration cannot add more: all are at 4
    capped = plan_mix(sources, MixConfig({"a": 0.5, "b": 0.5}, rehydrate=True)).sources[0]
    assert capped.copies.min() == capped.max_copies == 4


def test_plan_errors_name_the_source():
    with pytest.raises(ValueError, match="'news'"):
        plan_mix(_sources(), MixConfig({**WEIGHTS, "news": 0.1}))
    with pytest.raises(ValueError, match="no weight"):
        plan_mix(_sources(), MixConfig({"web": 1.0}))
    with pytest.raises(ValueError, match="'wiki'.*no tokens"):
        plan_mix([SourceDocs("wiki", np.zeros(3, dtype=np.int64)), SourceDocs("web", np.ones(3, dtype=np.int64))], MixConfig({"web": 1, "wiki": 1}))
    with pytest.raises(ValueError, match="positive"):
        MixConfig({"web": -1})
    with pytest.raises(ValueError, match="max_repeats"):
        MixConfig({"web": 1}, max_repeats=0.5)


def test_token_estimate():
    assert token_estimate(np.array([0, 1, 4, 10])).tolist() == [0, 1, 1, 3]


def _write_source(directory, name, texts, clusters=None):
    directory.mkdir(parents=True)
    table = {
        "id": [f"{name}-{i}" for i in range(len(texts))],
        "text": texts,
        "url": [f"https://{name}.example/{i}" for i in range(len(texts))],
    }
    if clusters is not None:
        table["minhash_cluster_size"] = clusters
    half = len(texts) // 2
    t = pa.table(table, schema=None)
    pq.write_table(t.slice(0, half), directory / "part-0.parquet")
    pq.write_table(t.slice(half), directory / "part-1.parquet")


def test_run_mix_writes_parquet_and_manifest(tmp_path):
    rng = np.random.default_rng(0)
    _write_source(tmp_path / "web", "web", ["w " * int(n) for n in rng.integers(50, 400, 3000)])
    _write_source(tmp_path / "books", "books", ["b " * int(n) for n in rng.integers(2000, 6000, 20)])
    sources = {"web": str(tmp_path / "web"), "books": str(tmp_path / "books")}
    config = MixConfig({"web": 0.8, "books": 0.2}, seed=1)
    manifest = run_mix(sources, config, tmp_path / "out")
    on_disk = read_manifest(tmp_path / "out")
    assert on_disk["sources"].keys() == manifest["sources"].keys()
    assert manifest["max_abs_error"] < 0.01
    files = sorted((tmp_path / "out" / "documents").glob("*.parquet"))
    table = pa.concat_tables(pq.read_table(f) for f in files)
    assert table.schema.metadata[schemas.META_SCHEMA] == b"documents"
    assert table.num_rows == manifest["documents"]
    names = table.column("source_name").to_pylist()
    book_bytes = sum(len(t.encode()) for t, n in zip(table.column("text").to_pylist(), names) if n == "books")
    all_bytes = sum(len(t.encode()) for t in table.column("text").to_pylist())
    assert abs(book_bytes / all_bytes - 0.2) < 0.01
    assert manifest["sources"]["books"]["repetitions"] > 1 and max(table.column("mix_copy").to_pylist()) >= 1
    assert all(len(f["xxh3_64"]) == 16 for f in manifest["sources"]["web"]["files"])
    # same seed: the same mix, byte for byte in content
    again = run_mix(sources, config, tmp_path / "out2")
    table2 = pa.concat_tables(pq.read_table(f) for f in sorted((tmp_path / "out2" / "documents").glob("*.parquet")))
    assert table2.column("id").to_pylist() == table.column("id").to_pylist()
    assert again["sources"]["web"]["realized"] == manifest["sources"]["web"]["realized"]
    with pytest.raises(MixError, match="not empty"):
        run_mix(sources, config, tmp_path / "out")
    run_mix(sources, config, tmp_path / "out", overwrite=True)


def test_run_mix_errors(tmp_path):
    _write_source(tmp_path / "web", "web", ["a b c"] * 10)
    with pytest.raises(MixError, match="source books"):
        run_mix({"web": str(tmp_path / "web"), "books": str(tmp_path / "nope")}, MixConfig({"web": 1, "books": 1}), tmp_path / "o")
    with pytest.raises(MixError, match="minhash_cluster_size"):
        run_mix({"web": str(tmp_path / "web")}, MixConfig({"web": 1}, rehydrate=True), tmp_path / "o")
    with pytest.raises(MixError, match="holds input"):
        run_mix({"web": str(tmp_path / "web")}, MixConfig({"web": 1}), tmp_path, overwrite=True)
    assert (tmp_path / "web" / "part-0.parquet").is_file()
    with pytest.raises(MixError, match="without a --source"):
        run_mix({"web": str(tmp_path / "web")}, MixConfig({"web": 1, "x": 1}), tmp_path / "o")


def test_cli_mix(tmp_path, capsys):
    from winnow.cli import main

    _write_source(tmp_path / "a", "a", ["one two three"] * 40)
    _write_source(tmp_path / "b", "b", ["four five six"] * 10, clusters=[1] * 10)
    out = tmp_path / "mixed"
    code = main(["mix", "--source", f"a={tmp_path / 'a'}", "--source", f"b={tmp_path / 'b'}",
                 "--weights", "a=0.5,b=0.5", "--by", "documents", "--output", str(out), "--seed", "7"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "realized" in printed and "b" in printed
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["sources"]["b"]["units"] == manifest["sources"]["a"]["units"] == 40
    assert manifest["sources"]["b"]["repetitions"] == 4.0
    assert main(["mix", "--source", f"a={tmp_path / 'a'}", "--weights", "a=x", "--output", str(tmp_path / "z")]) != 0
    assert "expected NAME=W" in capsys.readouterr().err


def test_split_one_corpus_by_source_name(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = ["web"] * 300 + ["wiki"] * 50 + [None] * 5
    texts = [f"doc {i} " + "x " * (20 + i % 7) for i in range(len(names))]
    pq.write_table(pa.table({"id": [str(i) for i in range(len(names))], "text": texts, "source_name": names}), corpus / "p.parquet")
    manifest = run_mix({"web": str(corpus), "wiki": str(corpus)}, MixConfig({"web": 0.5, "wiki": 0.5}, by=BY_DOCUMENTS),
                       tmp_path / "out", split_column="source_name")
    assert manifest["sources"]["wiki"]["available_documents"] == 50
    assert manifest["sources"]["web"]["units"] == manifest["sources"]["wiki"]["units"] == 200
    table = pq.read_table(tmp_path / "out" / "documents")
    wiki_ids = {int(i) for i, n in zip(table.column("id").to_pylist(), table.column("source_name").to_pylist()) if n == "wiki"}
    assert wiki_ids <= set(range(300, 350))


def test_report_sections_for_mix_and_contamination(tmp_path):
    from winnow.report.inputs import NotRun
    from winnow.report.mixture import build_contamination, build_mixture, html_contamination, html_mixture

    run = tmp_path / "run"
    with pytest.raises(NotRun):
        build_mixture(run)
    with pytest.raises(NotRun):
        build_contamination(run)
    _write_source(tmp_path / "a", "a", ["one two three"] * 40)
    _write_source(tmp_path / "b", "b", ["four five <b>"] * 10)
    run_mix({"a": str(tmp_path / "a"), "b": str(tmp_path / "b")}, MixConfig({"a": 1, "b": 1}, by=BY_DOCUMENTS), run / "mix")
    data = build_mixture(run)
    assert {s["source"]: s["repetitions"] for s in data["sources"]} == {"a": 1.0, "b": 4.0}
    assert "realized" in html_mixture(data)

    (run / "curate" / "rejected").mkdir(parents=True)
    (run / "curate" / "documents").mkdir(parents=True)
    pq.write_table(pa.table({"reason": ["contaminated", "contaminated", "c4_lorem_ipsum"],
                             "decontaminate_set": ["hellaswag", "hellaswag,arc<x>", ""]}), run / "curate" / "rejected" / "p.parquet")
    pq.write_table(pa.table({"decontaminate_set": ["arc<x>", "", None]}), run / "curate" / "documents" / "p.parquet")
    data = build_contamination(run)
    assert data["sets"] == [{"set": "arc<x>", "rejected": 1, "spans_removed": 1}, {"set": "hellaswag", "rejected": 2, "spans_removed": 0}]
    page = html_contamination(data)
    assert "arc&lt;x&gt;" in page and "<x>" not in page


def test_runner_mix_stage_and_decontaminating_recipe(tmp_path):
    from winnow.curation.recipe import load_recipe
    from winnow.run_state import RunContext
    from winnow.runner import curate_recipe, documents_dir, stage_mix

    run = tmp_path / "run"
    docs = run / "curate" / "documents"
    docs.mkdir(parents=True)
    names = ["web"] * 90 + ["books"] * 10
    pq.write_table(pa.table({"id": [str(i) for i in range(100)], "text": ["some words here"] * 100, "source_name": names}),
                   docs / "part-0.parquet")
    tasks = tmp_path / "hellaswag.jsonl"
    tasks.write_text(json.dumps({"ctx": "one two three four five six seven", "endings": ["eight nine ten eleven twelve thirteen", "no"], "label": 0}) + "\n")
    sections = {"mix": {"weights": {"web": 0.5, "books": 0.5}, "by": "documents", "seed": 2},
                "evaluate": {"tasks": ["sentences:val", str(tasks)]}}
    ctx = RunContext("fineweb", run, [], sections, "t", "fp")
    outputs, counts = stage_mix(ctx)
    assert counts["documents"] == 80 and counts["max_abs_error"] == 0
    assert read_manifest(outputs["documents"])["split_column"] == "source_name"
    assert documents_dir(ctx) == str(run / "curate")  # the mix manifest counts only once the stage completed
    assert stage_mix(RunContext("fineweb", run, [], {}, "t", "fp"))[0]["disabled"]
    derived = load_recipe(curate_recipe(ctx))
    assert derived.step_names()[-1] == "decontaminate" and derived.config_of("decontaminate").eval == (str(tasks),)
    assert derived.name == "fineweb"
    assert curate_recipe(RunContext("fineweb", run, [], {"evaluate": {"tasks": ["builtin:copy"]}}, "t", "fp")) == "fineweb"


# ---- issue 21: the repeat cap holds for every document; shares off target are warned about ------------------

def test_repeat_cap_holds_for_every_document_with_rehydration():
    # a's clusters would have been copied 4 (cap) x 2 (epochs) = 8 times before the cap held per document
    a = SourceDocs("a", np.full(3, 100), np.array([2, 2, 1]))
    b = SourceDocs("b", np.full(50, 100), np.ones(50, dtype=np.int64))
    plan = plan_mix([a, b], MixConfig({"a": 0.5, "b": 0.5}, rehydrate=True))
    by = {s.name: s for s in plan.sources}
    assert by["a"].max_copies == 4 and by["a"].repetitions == 4.0
    assert plan.realized()["a"] == pytest.approx(0.5)


@pytest.mark.parametrize("cap", [1, 2, 3, 4, 7])
def test_repeat_cap_is_never_exceeded(cap):
    for seed in range(150):
        rng = np.random.default_rng(seed)
        sizes = {name: int(rng.integers(1, 40)) for name in ("a", "b", "c")}
        rehydrate = seed % 2 == 0
        sources = [SourceDocs(n, rng.integers(0, 500, k), rng.integers(1, 9, k) if rehydrate else None)
                   for n, k in sizes.items()]
        weights = {n: float(rng.random()) + 0.01 for n in sizes}
        by = BY_DOCUMENTS if seed % 3 == 0 else "tokens"
        if by == BY_DOCUMENTS:
            sources = [SourceDocs(s.name, np.ones(len(s.units), dtype=np.int64), s.cluster_sizes) for s in sources]
        try:
            plan = plan_mix(sources, MixConfig(weights, by=by, max_repeats=cap, rehydrate=rehydrate, seed=seed))
        except ValueError as exc:
            assert "no tokens" in str(exc)  # an all-empty source is the only refusal here
            continue
        for s in plan.sources:
            assert s.max_copies <= cap and s.repetitions <= cap, (seed, s.name, s.max_copies)


def test_max_repeats_must_be_a_whole_number():
    for bad in (2.5, float("inf"), True, "4"):
        with pytest.raises(ValueError, match="max_repeats must be a whole number"):
            MixConfig({"web": 1}, max_repeats=bad)
    assert MixConfig({"web": 1}, max_repeats=3.0).max_repeats == 3.0


def test_a_share_off_target_is_a_warning_in_the_plan():
    # one 10,000-token document against a 0.667 share of a 120-token mix: no cut gets within a point
    coarse = [SourceDocs("big", np.array([10_000])), SourceDocs("small", np.array([10]))]
    plan = plan_mix(coarse, MixConfig({"big": 2, "small": 1}))
    warnings = share_warnings(plan)
    assert len(warnings) == 2 and "'big'" in warnings[0] and "target 0.667" in warnings[0]
    assert plan.realized()["big"] == 0.0  # nearer to the target than taking the whole 10,000 tokens
    assert share_warnings(plan_mix(_sources(), MixConfig(WEIGHTS))) == []


def test_run_mix_and_cli_warn_or_fail_on_a_share_off_target(tmp_path, capsys):
    from winnow.cli import main

    _write_source(tmp_path / "big", "big", ["w " * 20_000, "w " * 20_000])
    _write_source(tmp_path / "small", "small", ["tiny text"] * 2)
    sources = {"big": str(tmp_path / "big"), "small": str(tmp_path / "small")}
    manifest = run_mix(sources, MixConfig({"big": 2, "small": 1}), tmp_path / "warned")
    assert len(manifest["warnings"]) == 2 and read_manifest(tmp_path / "warned")["warnings"] == manifest["warnings"]
    assert manifest["max_abs_error"] > 0.01 and manifest["share_tolerance"] == 0.01
    with pytest.raises(MixError, match="strict: source 'big': realized share"):
        run_mix(sources, MixConfig({"big": 2, "small": 1}, strict=True), tmp_path / "strict")
    assert not (tmp_path / "strict").exists()  # refused before anything was written

    args = ["mix", "--source", f"big={tmp_path / 'big'}", "--source", f"small={tmp_path / 'small'}",
            "--weights", "big=2,small=1"]
    assert main([*args, "--output", str(tmp_path / "cli")]) == 0
    captured = capsys.readouterr()
    assert "realized" in captured.out and "warning: source 'big': realized share" in captured.err
    assert main([*args, "--output", str(tmp_path / "cli-strict"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "strict: source 'big'" in err and "Traceback" not in err
    assert not (tmp_path / "cli-strict").exists()
    with pytest.raises(SystemExit) as exit_:  # argparse: a whole number of copies
        main([*args, "--output", str(tmp_path / "x"), "--max-repeats", "2.5"])
    assert exit_.value.code == 2 and "--max-repeats" in capsys.readouterr().err


def test_cli_mix_exit_status_says_wrong_argument_or_unusable_input(tmp_path, capsys):
    # A source that names nothing exits 2; a source file that is not Parquet exits 3 (core/errors.py).
    from winnow.cli import main

    _write_source(tmp_path / "good", "good", ["some text"] * 4)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "part-0.parquet").write_bytes(b"PAR1 not parquet")
    base = ["mix", "--source", f"good={tmp_path / 'good'}", "--weights", "good=1,other=1"]
    assert main([*base, "--source", f"other={tmp_path / 'absent'}", "--output", str(tmp_path / "o1")]) == 2
    assert "source other:" in capsys.readouterr().err
    assert main([*base, "--source", f"other={tmp_path / 'bad'}", "--output", str(tmp_path / "o2")]) == 3
    assert "part-0.parquet: not a readable Parquet file" in capsys.readouterr().err
