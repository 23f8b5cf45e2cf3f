"""Tests for the winnow.report package: the HTML run report and summary.json."""
from __future__ import annotations

import base64
import json
import math
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cpu_load import HANG_GUARD_S
from winnow import schemas
from winnow.report import signals as signals_module
from winnow.cli import main as cli_main
from winnow.report import (
    ABLATE_RESULTS,
    CURATE_STATS,
    DEDUP_STATS,
    MAX_SIGNALS,
    REPORT_FILE,
    STATUS_ERROR,
    STATUS_NOT_RUN,
    STATUS_OK,
    SUMMARY_FILE,
    ReportInputError,
    rank_signals,
    write_report,
)

SIGNALS = [("gopher_quality_word_count", "int"), ("fineweb_line_punct_ratio", "float")]
ALL_SECTIONS = ("overview", "curation", "languages", "signals", "dedup", "mixture", "contamination", "tokens",
                "training", "evaluation", "generations", "ablation", "calibration", "samples", "review")
# Sections whose inputs the full-run fixture does not have (no mix stage, no decontamination, no labels, no calibration).
OPTIONAL_SECTIONS = ("mixture", "contamination", "calibration", "review")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
XSS = "<script>alert(1)</script>"


# --------------------------------------------------------------------------- fake run directory


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _identity(i: int, prefix: str) -> dict:
    return {"id": f"{prefix}{i}", "url": f"https://example.org/{prefix}/{i}", "domain": "example.org",
            "warc_record_id": f"<urn:uuid:{prefix}{i}>", "warc_date": "2024-01-01T00:00:00Z", "source": "s.warc.gz"}


def _write_curate(curate: Path) -> None:
    kept = [{**_identity(i, "k"), "text": f"Kept document number {i}. It has sentences.", "language": "en",
             "language_score": 0.95, "gopher_quality_word_count": 100 + 10 * i, "fineweb_line_punct_ratio": 0.9}
            for i in range(8)]
    kept[0]["text"] = f"Hello {XSS} & goodbye"
    rejected = [
        {**_identity(0, "r"), "stage": "gopher_quality", "reason": "gopher_quality_too_few_words", "detail": "12 < 50",
         "text": "too short", "language": "en", "language_score": 0.9, "gopher_quality_word_count": 12,
         "fineweb_line_punct_ratio": None},
        {**_identity(1, "r"), "stage": "fineweb_line", "reason": "fineweb_line_punct_ratio_low", "detail": "0.05 < 0.12",
         "text": "no punctuation here", "language": "en", "language_score": 0.9, "gopher_quality_word_count": 80,
         "fineweb_line_punct_ratio": 0.05},
        {**_identity(2, "r"), "stage": "triage", "reason": "not_html", "detail": None, "text": None,
         "language": None, "language_score": None, "gopher_quality_word_count": None, "fineweb_line_punct_ratio": None},
    ]
    for folder, rows, schema in (("documents", kept, schemas.document_schema(SIGNALS)),
                                 ("rejected", rejected, schemas.rejected_schema(SIGNALS))):
        (curate / folder).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), curate / folder / "part-00000.parquet", compression="zstd")
    _write_json(curate / "stats.json", {
        "recipe": "fineweb", "records_in": 12, "kept": 8, "rejected_total": 3, "errors": 1,
        "rejected": {"fineweb_line": {"fineweb_line_punct_ratio_low": 1}, "gopher_quality": {"gopher_quality_too_few_words": 1},
                     "triage": {"not_html": 1}},
        "errors_by_stage": {"extract": {"ValueError": 1}},
        "languages": {"en": 7, "de": 1},
        "stage_order": ["read", "triage", "decode", "extract", "language", "gopher_quality", "fineweb_line"],
        "accounting": {"ok": True, "unaccounted": 0}, "wall_time_s": 1.5,
    })


def _write_full_run(run: Path) -> None:
    _write_json(run / "run.json", {"recipe": "fineweb", "stages": {
        stage: {"status": "ran", "wall_s": 1.0 + i} for i, stage in
        enumerate(("curate", "dedup", "tokenizer", "tokenize", "train", "evaluate"))}})
    _write_curate(run / "curate")
    _write_json(run / DEDUP_STATS, {"documents_in": 8, "kept": 6, "exact_duplicates": 1, "near_duplicates": 1,
                                    "clusters": 7, "largest_cluster": 2, "cluster_size_histogram": {"1": 6, "2": 1},
                                    "accounting": {"ok": True}})
    _write_json(run / "tokenizer/report.json", {"vocab_size": 512, "bytes_per_token": 3.25})
    _write_json(run / "tokens/manifest.json", {
        "format": "winnow-token-shards", "version": 1, "dtype": "uint16", "sources": [],
        "split": {"rule": "xxh3_64(id) % 1000000 < val_fraction * 1000000", "val_fraction": 0.2},
        "tokenizer": {"file": "tokenizer.json", "sha256": "0" * 64, "vocab_size": 512, "eot_token": "<|endoftext|>", "eot_id": 0},
        "splits": {"train": {"tokens": 1000, "documents": 5, "utf8_bytes": 4000, "shards": [{"file": "train-x-00000.bin"}]},
                   "val": {"tokens": 200, "documents": 1, "utf8_bytes": 700, "shards": [{"file": "val-x-00000.bin"}]}},
    })
    metrics = [{"step": s, "split": "train", "loss": 6.0 - 0.1 * s, "lr": 1e-3, "tokens_seen": 64 * s, "tokens_per_s": 5000.0}
               for s in range(1, 21)]
    metrics.insert(10, {"step": 10, "split": "val", "val_loss": 5.2, "val_bpb": 2.1, "val_perplexity": 181.3})
    metrics.append({"step": 20, "split": "val", "val_loss": 4.5, "val_bpb": 1.85, "val_perplexity": 90.0})
    (run / "train").mkdir()
    (run / "train/metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics), encoding="utf-8")
    (run / "train/config.yaml").write_text("model:\n  d_model: 64\n", encoding="utf-8")
    _write_json(run / "evaluate/results.json", {
        "val": {"loss": 4.5, "perplexity": 90.0, "bits_per_byte": 1.85, "tokens": 200, "bytes": 700},
        "text": {"loss": 4.9, "perplexity": 134.3, "bits_per_byte": 2.02, "tokens": 300, "bytes": 1000, "source": "held.txt"},
        "tasks": {"tiny_mc": {"acc": 0.375, "acc_norm": 0.5, "n": 8}},
        "generations": [{"prompt": "The river", "completion": f" flows {XSS}"}],
    })
    _write_json(run / ABLATE_RESULTS, {"budget_tokens": 10000, "eval_text": "held.txt", "recipes": {
        "fineweb": {"runs": [{"seed": 0, "val_bpb": 1.9, "tasks": {"tiny_mc": {"acc": 0.4, "acc_norm": 0.5}}},
                             {"seed": 1, "val_bpb": 2.1, "tasks": {"tiny_mc": {"acc": 0.5, "acc_norm": 0.5}}}],
                    "documents": 8, "tokens": 1000},
        "extract": {"runs": [{"seed": 0, "val_bpb": 2.4}, {"seed": 1, "val_bpb": 2.6}], "mean_bpb": 2.5, "std_bpb": 0.1414,
                    "documents": 12, "tokens": 1500},
    }})


@pytest.fixture
def full_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    _write_full_run(run)
    return run


# --------------------------------------------------------------------------- HTML inspection


class _PageParser(HTMLParser):
    """Collects what the checks need and verifies tags are balanced."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "area", "base", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.section_ids: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.text: list[str] = []
        self.script_tags = 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in ("src", "href"):
            if name in values:
                self.attrs.append((tag, name, values[name] or ""))
        if tag == "section":
            self.section_ids.append(values.get("id", ""))
        if tag == "script":
            self.script_tags += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    return parser


def _section_text(page: str, key: str) -> str:
    start = page.index(f'<section id="{key}">')
    return page[start:page.index("</section>", start)]


# --------------------------------------------------------------------------- tests


def test_full_run_html_is_well_formed_and_self_contained(full_run: Path):
    report_path, summary_path = write_report(full_run)
    assert report_path == full_run / REPORT_FILE and summary_path == full_run / SUMMARY_FILE
    page = report_path.read_text(encoding="utf-8")
    parsed = _parse(page)
    assert parsed.problems == []
    assert parsed.stack == [], f"unclosed tags: {parsed.stack}"
    assert parsed.section_ids == list(ALL_SECTIONS)
    assert parsed.script_tags == 0
    images = [v for tag, name, v in parsed.attrs if tag == "img"]
    # funnel, languages, 2 signals, dedup, loss curve, ablation
    assert len(images) == 7
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    for tag, name, value in parsed.attrs:
        assert not value.startswith(("http:", "https:", "//")), f"external {name} on <{tag}>: {value}"
        if tag == "a":
            assert value.startswith("#")
    assert "<link" not in page and "@import" not in page


def test_document_and_generation_text_is_escaped(full_run: Path):
    report_path, _ = write_report(full_run)
    page = report_path.read_text(encoding="utf-8")
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section_text(page, "samples")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section_text(page, "generations")
    assert XSS in "".join(_parse(page).text)  # the reader sees the text literally


def test_summary_has_the_numbers(full_run: Path):
    _, summary_path = write_report(full_run)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    s = summary["sections"]
    required = [k for k in ALL_SECTIONS if k not in OPTIONAL_SECTIONS]
    assert all(s[k]["status"] == STATUS_OK for k in required), {k: s[k] for k in required if s[k]["status"] != STATUS_OK}
    assert all(s[k]["status"] == STATUS_NOT_RUN for k in OPTIONAL_SECTIONS), {k: s[k] for k in OPTIONAL_SECTIONS}
    assert s["overview"]["recipe"] == "fineweb"
    assert s["overview"]["total_wall_s"] == pytest.approx(sum(1.0 + i for i in range(6)))

    funnel = {f["stage"]: f for f in s["curation"]["funnel"]}
    assert [f["stage"] for f in s["curation"]["funnel"]][:3] == ["read", "triage", "decode"]
    assert funnel["read"]["in"] == 12
    assert funnel["triage"]["rejected"] == 1 and funnel["triage"]["out"] == 11
    assert funnel["extract"]["errors"] == 1 and funnel["extract"]["out"] == 10
    assert s["curation"]["funnel"][-1]["out"] == s["curation"]["kept"] == 8
    assert s["curation"]["reasons"]["gopher_quality"] == [["gopher_quality_too_few_words", 1]]
    assert s["languages"]["languages"] == {"en": 7, "de": 1}
    assert s["languages"]["shares"]["de"] == pytest.approx(1 / 8)

    words = s["signals"]["signals"]["gopher_quality_word_count"]
    assert words["kept"]["n"] == 8 and words["kept"]["p50"] == pytest.approx(135.0)
    assert words["rejected"]["n"] == 2  # the triage rejection has no signals
    assert sum(words["histogram"]["kept"]) == 8 and sum(words["histogram"]["rejected"]) == 2
    assert s["signals"]["signals"]["fineweb_line_punct_ratio"]["rejected"]["p50"] == pytest.approx(0.05)
    assert s["signals"]["signals_total"] == 2

    assert s["dedup"]["near_duplicates"] == 1 and s["dedup"]["cluster_size_histogram"] == {"1": 6, "2": 1}
    assert s["dedup"]["removed_fraction"] == pytest.approx(2 / 8)
    assert s["tokens"]["splits"]["train"]["bytes_per_token"] == pytest.approx(4.0)
    assert s["tokens"]["splits"]["val"]["tokens"] == 200
    assert s["tokens"]["tokenizer"] == {"vocab_size": 512, "heldout_bytes_per_token": 3.25}
    assert s["training"]["final_train"]["loss"] == pytest.approx(4.0)
    assert s["training"]["final_train"]["step"] == 20
    assert s["training"]["final_val"]["val_bpb"] == pytest.approx(1.85)
    assert not any(k.startswith("_") for k in s["training"])  # curves stay out of the JSON
    assert s["evaluation"]["language_modelling"]["text"]["bits_per_byte"] == pytest.approx(2.02)
    assert s["evaluation"]["tasks"]["tiny_mc"] == {"acc": 0.375, "acc_norm": 0.5, "n": 8}
    assert s["generations"]["generations"][0]["prompt"] == "The river"

    fineweb = s["ablation"]["recipes"]["fineweb"]
    assert fineweb["mean_bpb"] == pytest.approx(2.0)
    assert fineweb["std_bpb"] == pytest.approx(math.sqrt(0.02))  # sample std of 1.9, 2.1
    assert fineweb["task_acc_mean"]["tiny_mc"] == pytest.approx(0.45)
    assert s["ablation"]["recipes"]["extract"]["mean_bpb"] == 2.5  # given values win over recomputation

    assert [r["reason"] for r in s["samples"]["rejected"]] == [
        "gopher_quality_too_few_words", "fineweb_line_punct_ratio_low", "not_html"]
    assert len(s["samples"]["kept"]) == 3


def test_numbers_in_summary_appear_in_html(full_run: Path):
    report_path, _ = write_report(full_run)
    page = report_path.read_text(encoding="utf-8")
    assert "gopher_quality_too_few_words" in _section_text(page, "curation")
    assert "1.85" in _section_text(page, "evaluation") and "0.375" in _section_text(page, "evaluation")
    assert "4,000" in _section_text(page, "tokens")


def test_only_curate_renders_not_run_for_the_rest(tmp_path: Path):
    run = tmp_path / "run"
    _write_curate(run / "curate")
    report_path, summary_path = write_report(run)
    sections = json.loads(summary_path.read_text())["sections"]
    present = {"curation", "languages", "signals", "samples"}
    assert {k for k, v in sections.items() if v["status"] == STATUS_OK} == present
    assert all(sections[k]["status"] == STATUS_NOT_RUN for k in ALL_SECTIONS if k not in present)
    page = report_path.read_text(encoding="utf-8")
    assert _parse(page).problems == []
    for key in ("dedup", "training", "ablation", "overview"):
        assert "not run" in _section_text(page, key)


def test_empty_run_dir_renders_every_section_not_run(tmp_path: Path):
    report_path, summary_path = write_report(tmp_path)
    sections = json.loads(summary_path.read_text())["sections"]
    assert [sections[k]["status"] for k in ALL_SECTIONS] == [STATUS_NOT_RUN] * len(ALL_SECTIONS)
    assert _parse(report_path.read_text()).section_ids == list(ALL_SECTIONS)


def test_corrupt_json_shows_an_error_naming_the_file(full_run: Path):
    (full_run / DEDUP_STATS).write_text('{"documents_in": 3,', encoding="utf-8")
    (full_run / "train/metrics.jsonl").write_text('{"step": 1, "split": "train", "loss": 5}\nnot json\n', encoding="utf-8")
    _write_json(full_run / CURATE_STATS, {"records_in": "many", "kept": 1})
    report_path, summary_path = write_report(full_run)
    sections = json.loads(summary_path.read_text())["sections"]
    assert sections["dedup"]["status"] == STATUS_ERROR and str(full_run / DEDUP_STATS) in sections["dedup"]["error"]
    assert sections["training"]["status"] == STATUS_ERROR and "line 2" in sections["training"]["error"]
    assert sections["curation"]["status"] == STATUS_ERROR and "records_in" in sections["curation"]["error"]
    assert sections["evaluation"]["status"] == STATUS_OK  # one bad file does not take the others down
    page = report_path.read_text(encoding="utf-8")
    assert "dedup/stats.json" in _section_text(page, "dedup")


def test_wrongly_shaped_json_is_an_error_not_a_crash(full_run: Path):
    _write_json(full_run / "evaluate/results.json", ["not", "an", "object"])
    _write_json(full_run / ABLATE_RESULTS, {"recipes": {"x": {"runs": [{"seed": 0, "val_bpb": "low"}]}}})
    _, summary_path = write_report(full_run)
    sections = json.loads(summary_path.read_text())["sections"]
    assert sections["evaluation"]["status"] == STATUS_ERROR and "expected a JSON object" in sections["evaluation"]["error"]
    assert sections["ablation"]["status"] == STATUS_ERROR and "val_bpb" in sections["ablation"]["error"]


def test_corrupt_parquet_is_an_error_naming_the_file(full_run: Path):
    bad = full_run / "curate/rejected/part-00001.parquet"
    bad.write_bytes(b"not parquet at all")
    _, summary_path = write_report(full_run)
    sections = json.loads(summary_path.read_text())["sections"]
    assert sections["signals"]["status"] == STATUS_ERROR and str(bad) in sections["signals"]["error"]
    assert sections["curation"]["status"] == STATUS_OK


def test_nan_metrics_become_null_in_summary(full_run: Path):
    with (full_run / "train/metrics.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"step": 21, "split": "train", "loss": NaN, "lr": 0.001, "tokens_seen": 1, "tokens_per_s": 1.0}\n')
    _, summary_path = write_report(full_run)
    text = summary_path.read_text()
    assert "NaN" not in text
    assert json.loads(text)["sections"]["training"]["final_train"]["loss"] is None


def test_skipped_stage_note_from_run_json(full_run: Path):
    shutil.rmtree(full_run / "dedup")
    run = json.loads((full_run / "run.json").read_text())
    run["stages"]["dedup"] = {"status": "failed", "wall_s": 0.1, "error": "out of memory"}
    _write_json(full_run / "run.json", run)
    report_path, summary_path = write_report(full_run)
    dedup = json.loads(summary_path.read_text())["sections"]["dedup"]
    assert dedup["status"] == STATUS_NOT_RUN and dedup["note"] == "stage dedup failed: out of memory"
    assert "out of memory" in _section_text(report_path.read_text(), "dedup")


def test_funnel_without_stage_order_uses_pipeline_order(tmp_path: Path):
    stats = {"records_in": 5, "kept": 2, "rejected_total": 2, "errors": 1,
             "rejected": {"gopher_rep": {"dup_lines": 1}, "triage": {"not_html": 1}},
             "errors_by_stage": {"decode": {"UnicodeError": 1}}}
    _write_json(tmp_path / CURATE_STATS, stats)
    _, summary_path = write_report(tmp_path)
    funnel = json.loads(summary_path.read_text())["sections"]["curation"]["funnel"]
    assert [f["stage"] for f in funnel] == ["read", "triage", "decode", "extract", "language", "gopher_rep"]
    assert [f["out"] for f in funnel] == [5, 4, 3, 3, 3, 2]


def test_signal_reading_stops_at_the_row_cap(full_run: Path, monkeypatch):
    second = full_run / "curate/documents/part-00001.parquet"
    shutil.copy(full_run / "curate/documents/part-00000.parquet", second)
    monkeypatch.setattr(signals_module, "MAX_SIGNAL_ROWS", 5)
    _, summary_path = write_report(full_run)
    signals = json.loads(summary_path.read_text())["sections"]["signals"]
    assert signals["files"]["kept"] == 2 and signals["files_read"]["kept"] == 1
    assert signals["signals"]["gopher_quality_word_count"]["kept"]["n"] == 8


def test_signals_skip_empty_columns_and_cap_the_count(tmp_path: Path, monkeypatch):
    signals = [("never_ran_score", "float")] + [(f"step{i}_value", "int") for i in range(MAX_SIGNALS + 2)]
    rows = [{**_identity(i, "k"), "text": "t", "language": "en", "language_score": 1.0, "never_ran_score": None,
             **{name: i * j for j, (name, _) in enumerate(signals[1:])}} for i in range(4)]
    (tmp_path / "curate/documents").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.document_schema(signals)),
                   tmp_path / "curate/documents/part-00000.parquet")
    _, summary_path = write_report(tmp_path)
    section = json.loads(summary_path.read_text())["sections"]["signals"]
    assert (section["signals_total"], section["signals_with_values"], section["signals_shown"]) == (
        MAX_SIGNALS + 3, MAX_SIGNALS + 2, MAX_SIGNALS)
    assert "never_ran_score" not in section["signals"] and "language_score" not in section["signals"]
    # step0_value is constant (0 everywhere), so varying signals go first and it is left out.
    assert list(section["signals"])[0] == "step1_value"
    assert section["signals_left_out"] == [f"step{MAX_SIGNALS + 1}_value", "step0_value"]

    monkeypatch.setattr(signals_module, "MAX_SIGNALS", 20)
    _, summary_path = write_report(tmp_path)
    section = json.loads(summary_path.read_text())["sections"]["signals"]
    assert list(section["signals"])[-1] == "step0_value"  # a constant column still charts when there is room
    assert sum(section["signals"]["step0_value"]["histogram"]["kept"]) == 4


def test_overview_falls_back_to_stage_manifests(tmp_path: Path):
    # `winnow run` writes run.json only after the report stage, so the report reads stages/*.json.
    _write_curate(tmp_path / "curate")
    _write_json(tmp_path / "stages/report.json", {"stage": "report", "status": "running", "started": 20.0})
    _write_json(tmp_path / "stages/curate.json", {"stage": "curate", "status": "complete", "wall_s": 3.5, "started": 10.0})
    _, summary_path = write_report(tmp_path)
    overview = json.loads(summary_path.read_text())["sections"]["overview"]
    assert overview["status"] == STATUS_OK and overview["recipe"] == "fineweb"
    assert [(r["stage"], r["status"], r["wall_s"]) for r in overview["stages"]] == [
        ("curate", "ran", 3.5), ("report", "running", None)]


def test_rank_signals_alternates_steps_and_puts_constant_last():
    columns = ["gopher_repetition_a", "gopher_repetition_b", "gopher_repetition_c", "gopher_quality_x", "c4_y", "c4_flat"]
    varying = set(columns) - {"c4_flat", "gopher_repetition_a"}
    ranked = rank_signals(columns, varying, stages=["gopher", "gopher_repetition", "gopher_quality"])
    assert ranked == ["gopher_repetition_b", "gopher_quality_x", "c4_y", "gopher_repetition_c",
                      "gopher_repetition_a", "c4_flat"]


def test_missing_run_dir_raises_with_its_name(tmp_path: Path):
    with pytest.raises(ReportInputError, match="nope"):
        write_report(tmp_path / "nope")


def test_cli_prints_paths(full_run: Path, capsys):
    assert cli_main(["report", str(full_run)]) == 0
    out = capsys.readouterr().out
    assert f"report: {full_run / REPORT_FILE}" in out and f"summary: {full_run / SUMMARY_FILE}" in out


def test_cli_rejects_missing_dir(tmp_path: Path, capsys):
    assert cli_main(["report", str(tmp_path / "absent")]) == 2
    assert "absent" in capsys.readouterr().err


def test_modules_import_matplotlib_and_pyarrow_lazily():
    code = ("import sys, winnow.report, winnow.cli.report; "
            "print(sorted(m for m in ('matplotlib', 'pyarrow', 'numpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_GUARD_S, check=True)
    assert result.stdout.strip() == "[]"


def test_headless_browser_renders_the_page(full_run: Path, tmp_path: Path):
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium) so the page cannot be rendered headless")
    image_module = pytest.importorskip("PIL.Image", reason="pillow is needed to inspect the screenshot")

    report_path, _ = write_report(full_run)
    shot = tmp_path / "shot.png"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
               f"--screenshot={shot}", "--window-size=1200,3000", report_path.resolve().as_uri()]
    try:
        subprocess.run(command, check=False, capture_output=True, timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish rendering within 90 s")
    assert shot.is_file(), "chromium wrote no screenshot"
    with image_module.open(shot) as image:
        assert image.size == (1200, 3000)
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is None or len(colors) > 50, "the screenshot is (nearly) blank"


# --------------------------------------------------------------------------- any Winnow output

def _single_outputs(root: Path) -> dict[str, Path]:
    """One directory per kind of single-command output, each as that command writes it."""
    run = root / "run"
    _write_full_run(run)
    outputs = {}
    for stage in ("curate", "dedup", "tokens", "train"):
        outputs[stage] = root / f"{stage}-out"
        shutil.copytree(run / stage, outputs[stage])
    shutil.copytree(run / "curate", root / "select-out")
    stats = json.loads((root / "select-out" / "stats.json").read_text())
    _write_json(root / "select-out" / "stats.json", {**stats, "selected_from": str(run / "curate")})
    outputs["select"] = root / "select-out"
    (outputs["dedup"] / "duplicates").mkdir()
    outputs["run"] = run
    return outputs


@pytest.mark.parametrize(("name", "kind", "sections"), [
    ("curate", "curate output", {"curation", "languages", "signals", "samples"}),
    ("select", "select output", {"curation", "languages", "signals", "samples"}),
    ("dedup", "dedup output", {"dedup"}),
    ("tokens", "token directory", {"tokens"}),
    ("train", "training run", {"training"}),
])
def test_any_single_output_reports_the_sections_it_has_data_for(tmp_path: Path, name, kind, sections, capsys):
    directory = _single_outputs(tmp_path)[name]
    assert cli_main(["report", str(directory)]) == 0
    printed = capsys.readouterr().out
    assert f"found: {kind}" in printed
    summary = json.loads((directory / SUMMARY_FILE).read_text())
    assert summary["kind"] == kind
    assert set(summary["sections"]) == sections  # nothing "not run" on a single command's page
    assert all(section["status"] == STATUS_OK for section in summary["sections"].values())
    page = (directory / REPORT_FILE).read_text(encoding="utf-8")
    assert f"Found: {kind}" in page and _parse(page).section_ids == [k for k in ALL_SECTIONS if k in sections]
    assert _parse(page).problems == []


def test_curate_output_funnel_matches_the_same_output_inside_a_run(tmp_path: Path):
    outputs = _single_outputs(tmp_path)
    _, alone = write_report(outputs["curate"])
    _, in_run = write_report(outputs["run"])
    assert json.loads(alone.read_text())["sections"]["curation"] == json.loads(in_run.read_text())["sections"]["curation"]
    assert json.loads(in_run.read_text())["kind"] == "winnow run directory"


def test_review_labels_of_a_curate_output_are_reported(tmp_path: Path):
    """The issue's case: a curate output with review labels had every section "not run"."""
    from winnow.review.labels import LABELS_PREFIX, SessionFile, label_row, review_dir

    curate = _single_outputs(tmp_path)["curate"]
    session = SessionFile(review_dir(curate), LABELS_PREFIX, "ana", schemas.review_labels_schema())
    session.put(label_row("k1", "good", "ana", None, None))
    session.put(label_row("r0", "bad", "ana", None, None))
    _, summary = write_report(curate)
    sections = json.loads(summary.read_text())["sections"]
    assert sections["review"]["status"] == STATUS_OK, sections["review"]
    assert sections["curation"]["status"] == STATUS_OK and "overview" not in sections


def test_a_broken_file_in_a_single_output_names_the_users_file(tmp_path: Path):
    curate = _single_outputs(tmp_path)["curate"]
    (curate / "stats.json").write_text('{"records_in": 12, "kept": 8, "rejected": [1]}', encoding="utf-8")
    _, summary = write_report(curate)
    curation = json.loads(summary.read_text())["sections"]["curation"]
    assert curation["status"] == STATUS_ERROR and str(curate / "stats.json") in curation["error"]
    assert "winnow-report-" not in curation["error"]  # the temporary layout never shows


def test_ablation_directory_is_recognised(tmp_path: Path):
    ablation = tmp_path / "abl"
    shutil.copytree(_single_outputs(tmp_path)["run"] / "ablate", ablation / "ablate")
    _, summary = write_report(ablation)
    data = json.loads(summary.read_text())
    assert data["kind"] == "winnow ablate directory" and data["sections"]["ablation"]["status"] == STATUS_OK
    assert all(section["status"] != STATUS_NOT_RUN for section in data["sections"].values())


def test_a_directory_that_is_no_winnow_output_is_an_error(tmp_path: Path, capsys):
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    assert cli_main(["report", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "not a Winnow output" in err and "stats.json" in err and "metrics.jsonl" in err
    assert not (tmp_path / REPORT_FILE).exists()


# --------------------------------------------------------------------------- signal histograms

def _histogram(edges, kept, rejected):
    return {"edges": list(edges), "kept": list(kept), "rejected": list(rejected)}


@pytest.mark.parametrize("edges", [
    [i * 0.00049 for i in range(21)],          # tiny fractions
    [0.1 + i * 0.0437 for i in range(21)],     # ratios
    [i * 5371 for i in range(21)],             # word counts
    [i * 98_765 for i in range(21)],           # characters of long pages
    [-3 + i * 0.31 for i in range(21)],        # negative values
])
def test_signal_histogram_tick_labels_do_not_overlap(edges):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from winnow.report.charts import signal_figure

    name = "gopher_repetition_top_4gram_char_frac"
    fig = signal_figure(name, _histogram(edges, [5 * i for i in range(20)], [100 - 5 * i for i in range(20)]))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    labels = [t for t in ax.get_xticklabels() if t.get_text() and low <= t.get_position()[0] <= high]
    assert len(labels) >= 2
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 < right.x0, f"tick labels overlap: {[t.get_text() for t in labels]}"
    title = ax.title.get_window_extent(renderer)
    assert 0 <= title.x0 and title.x1 <= fig.bbox.width  # the long name wraps instead of running off the chart
    assert "\n" in ax.get_title()


def test_small_groups_are_drawn_as_counts_large_ones_as_fractions():
    from winnow.report.charts import SMALL_GROUP, chart_signal, signal_figure, signal_heights

    small = _histogram([0, 1, 2, 3], [2, 1, 0], [0, 0, 3])
    heights, label = signal_heights(small)
    assert label == "documents" and heights == {"kept": [2, 1, 0], "rejected": [0, 0, 3]}
    assert all(isinstance(v, int) for values in heights.values() for v in values)
    fig = signal_figure("x", small)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    ticks = [float(t.get_text().replace("−", "-")) for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert ticks and all(t == int(t) for t in ticks)  # no 0.5-document ticks
    large = _histogram([0, 1, 2], [SMALL_GROUP, 1], [1, 0])
    heights, label = signal_heights(large)
    assert label == "fraction" and heights["kept"][0] == pytest.approx(SMALL_GROUP / (SMALL_GROUP + 1))
    assert heights["rejected"] == [1.0, 0.0]
    only_kept = _histogram([0, 1], [3], [0])
    assert set(signal_heights(only_kept)[0]) == {"kept"}
    assert chart_signal("x", small).startswith(PNG_MAGIC)


def test_mix_output_reports_its_mixture(tmp_path: Path, capsys):
    mix = tmp_path / "mixed"
    source = {"target": 0.5, "realized": 0.49, "repetitions": 1.0, "documents": 10, "documents_used": 10,
              "available_documents": 12}
    _write_json(mix / "mix_manifest.json", {"by": "tokens", "seed": 0, "max_repeats": 4, "total_units": 2000,
                                            "documents": 20, "sources": {"web": source, "books": source}})
    (mix / "documents").mkdir()
    assert cli_main(["report", str(mix)]) == 0
    assert "found: mix output" in capsys.readouterr().out
    summary = json.loads((mix / SUMMARY_FILE).read_text())
    assert summary["kind"] == "mix output" and list(summary["sections"]) == ["mixture"]
    assert [s["source"] for s in summary["sections"]["mixture"]["sources"]] == ["web", "books"]
