"""Classifier size under control: buckets, dimension, quantization (.ftz), size and peak memory printed."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from classifier_models import BAD_WORDS, GOOD_WORDS, sentences, train_tiny_fasttext, write_corpus  # noqa: E402

from winnow.cli import main  # noqa: E402
from winnow.curation.classifier.step import CLASSIFIER_STEP, ClassifierConfig  # noqa: E402
from winnow.curation.classifier.train import (  # noqa: E402
    DEFAULT_BUCKET,
    DEFAULT_DIM,
    MODEL_FILE,
    QUANTIZED_MODEL_FILE,
    TrainSettings,
)
from winnow.curation.types import Document  # noqa: E402

FASTTEXT_DEFAULT_BUCKET = 2_000_000


def _card(model: Path) -> dict:
    return json.loads((model.parent / "model.json").read_text())


def test_defaults_keep_the_model_small():
    settings = TrainSettings()
    # fastText's own 2M buckets cost 2M x dim x 4 bytes whatever the data; Winnow's default is 10x fewer.
    assert settings.bucket == DEFAULT_BUCKET <= FASTTEXT_DEFAULT_BUCKET // 10
    assert settings.dim == DEFAULT_DIM and (settings.bucket * settings.dim * 4) < 50e6
    assert settings.model_file == MODEL_FILE and TrainSettings(quantize=True).model_file == QUANTIZED_MODEL_FILE


@pytest.mark.parametrize(("changes", "message"), [
    ({"cutoff": 10}, "cutoff applies to quantized models only"),
    ({"bucket": -1}, "bucket and cutoff must be >= 0"),
    ({"quantize": True, "cutoff": -5}, "bucket and cutoff must be >= 0"),
    ({"quantize": True, "cutoff": 20}, "cutoff must be 0 or at least 256"),
])
def test_size_settings_are_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings(**changes)


def test_buckets_set_the_size_of_the_ngram_table(tmp_path):
    small = train_tiny_fasttext(tmp_path / "small", bucket=1_000)
    large = train_tiny_fasttext(tmp_path / "large", bucket=11_000)
    # Each bucket is one row of `dim` (16) float32s; nothing else changes.
    assert large.stat().st_size - small.stat().st_size == 10_000 * 16 * 4
    assert _card(small)["model_bytes"] == small.stat().st_size and _card(small)["settings"]["bucket"] == 1_000


def test_quantized_model_is_smaller_scores_alike_and_loads_in_the_step(tmp_path):
    full = train_tiny_fasttext(tmp_path / "full", bucket=5_000)
    quantized = train_tiny_fasttext(tmp_path / "q", bucket=5_000, quantize=True)
    cut = train_tiny_fasttext(tmp_path / "cut", bucket=5_000, quantize=True, cutoff=300)
    assert quantized.name == QUANTIZED_MODEL_FILE and _card(quantized)["model_file"] == QUANTIZED_MODEL_FILE
    assert cut.stat().st_size < quantized.stat().st_size < full.stat().st_size / 4
    assert _card(quantized)["metrics"]["roc_auc"] > 0.95 and _card(cut)["metrics"]["roc_auc"] > 0.95
    # The curate step takes the .ftz file as it takes a .bin (backend auto: a file is fastText).
    resolved = CLASSIFIER_STEP.prepare(ClassifierConfig(model=str(quantized)), lambda p: open(p, "rb"))
    assert resolved.backend == "fasttext" and resolved.label == "__label__hq"
    step = CLASSIFIER_STEP.build(ClassifierConfig(model=str(quantized), threshold=0.5), resolved)
    texts = sentences(GOOD_WORDS, 3, 90) + sentences(BAD_WORDS, 3, 91)
    scores = [r.signals["classifier_score"] for r in step([Document(text=t, id=str(i)) for i, t in enumerate(texts)])]
    assert min(scores[:3]) > 0.5 > max(scores[3:])
    step.close()


def test_small_tables_train_alike_every_time_in_one_process(tmp_path):
    """fastText leaves most of a small input matrix as allocated; training zero-fills it, so no
    stray "Encountered NaN" and the same bytes on every run, after heap churn included."""
    import pyarrow.parquet  # noqa: F401 - heap churn of the kind a curate output brings

    models = [train_tiny_fasttext(tmp_path / str(i), bucket=2_000, seed=2) for i in range(4)]
    assert len({m.read_bytes() for m in models}) == 1
    a = train_tiny_fasttext(tmp_path / "qa", bucket=2_000, quantize=True, seed=2)
    b = train_tiny_fasttext(tmp_path / "qb", bucket=2_000, quantize=True, seed=2)
    assert a.read_bytes() == b.read_bytes()


def test_train_command_prints_size_and_peak_memory(tmp_path, capsys):
    good, bad = write_corpus(tmp_path / "data", n=60)
    out = tmp_path / "model"
    status = main([
        "classifier", "train", "--positive", str(good), "--negative", str(bad), "--output", str(out),
        "--threads", "1", "--dim", "16", "--bucket", "3000", "--quantize", "--cutoff", "300", "--epoch", "10", "--lr", "0.5",
    ])
    assert status == 0
    printed = capsys.readouterr().out
    size = re.search(r"wrote \S+model\.ftz \(([\d,.]+) MB\)", printed)
    peak = re.search(r"peak memory ([\d,.]+) MB", printed)
    assert size and peak, printed
    assert float(size.group(1).replace(",", "")) == pytest.approx((out / "model.ftz").stat().st_size / 1e6, abs=0.05)
    assert float(peak.group(1).replace(",", "")) > 10  # at least the interpreter and fastText are resident
    card = json.loads((out / "model.json").read_text())
    assert card["settings"]["quantize"] is True and card["settings"]["cutoff"] == 300 and card["settings"]["bucket"] == 3000
    assert not (out / "model.bin").exists()


def test_cutoff_without_quantize_is_a_one_line_error(tmp_path, capsys):
    good, bad = write_corpus(tmp_path / "data", n=10)
    status = main(["classifier", "train", "--positive", str(good), "--negative", str(bad),
                   "--output", str(tmp_path / "m"), "--cutoff", "10"])
    assert status == 2 and "cutoff applies to quantized models only" in capsys.readouterr().err


def test_curate_scores_with_a_quantized_model(tmp_path):
    from winnow.pipelines.run_curate import run_curate

    model = train_tiny_fasttext(tmp_path / "ft", bucket=2_000, quantize=True)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: ftz\nsteps:\n  - classifier: {{model: {model}, threshold: 0.5}}\n", encoding="utf-8")
    texts = sentences(GOOD_WORDS, 4, 70) + sentences(BAD_WORDS, 4, 71)
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    stats = run_curate([str(source)], str(tmp_path / "out"), recipe=str(recipe),
                       beam_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert stats["accounting"]["ok"] and stats["errors"] == 0
    assert stats["kept"] == 4 and stats["rejected"] == {"classifier": {"classifier_below_threshold": 4}}
    kept = [r for f in sorted((tmp_path / "out" / "documents").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert sorted(r["text"] for r in kept) == sorted(texts[:4]) and all(r["classifier_score"] > 0.5 for r in kept)
