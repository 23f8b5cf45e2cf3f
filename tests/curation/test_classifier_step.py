"""The `classifier` recipe step with a fastText model: config, errors, scores, decide, top fraction."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from classifier_models import BAD_WORDS, GOOD_WORDS, sentences, train_tiny_fasttext  # noqa: E402

from winnow.curation.classifier.fasttext_backend import ClassifierError  # noqa: E402
from winnow.curation.classifier.step import (  # noqa: E402
    CLASSIFIER_BELOW_THRESHOLD,
    CLASSIFIER_BELOW_TOP_FRACTION,
    CLASSIFIER_SCORE_MISSING,
    CLASSIFIER_STEP,
    ClassifierConfig,
    classifier_spec,
    is_classifier_step_name,
    quantile_threshold,
    top_fraction_threshold,
    top_fraction_verdict,
)
from winnow.curation.config import RecipeError, config_from_mapping  # noqa: E402
from winnow.curation.filters import FILTER_STEPS  # noqa: E402
from winnow.curation.types import Document  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return train_tiny_fasttext(tmp_path_factory.mktemp("ft"), seed=0)


def _docs(texts):
    return [Document(text=t, id=str(i)) for i, t in enumerate(texts)]


def test_registered_as_a_batch_step_with_a_prepare_and_decide():
    assert FILTER_STEPS["classifier"] is CLASSIFIER_STEP
    assert CLASSIFIER_STEP.batch and CLASSIFIER_STEP.prepare is not None and CLASSIFIER_STEP.decide is not None
    assert CLASSIFIER_STEP.signals == (("classifier_score", "float"),)
    assert classifier_spec("classifier_dclm").signals == (("classifier_dclm_score", "float"),)
    assert set(CLASSIFIER_STEP.reasons) == {CLASSIFIER_BELOW_THRESHOLD, CLASSIFIER_BELOW_TOP_FRACTION, CLASSIFIER_SCORE_MISSING}


def test_step_names_that_name_a_classifier():
    assert is_classifier_step_name("classifier") and is_classifier_step_name("classifier_edu2")
    for bad in ("classifiers", "classifier_", "classifier_Edu", "dclm", "classifier-dclm"):
        assert not is_classifier_step_name(bad)
        with pytest.raises(ValueError, match="classifier step name"):
            classifier_spec(bad)


def test_good_text_scores_high_and_low_scores_are_rejected_in_order(model):
    config = ClassifierConfig(model=str(model), threshold=0.5)
    step = CLASSIFIER_STEP.build(config)
    texts = sentences(GOOD_WORDS, 3, 50) + sentences(BAD_WORDS, 3, 51) + [""]
    results = step(_docs(texts))
    assert len(results) == len(texts)
    scores = [r.signals["classifier_score"] for r in results]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert min(scores[:3]) > 0.9 > 0.1 > max(scores[3:6])
    assert [r.reason for r in results[:6]] == [None] * 3 + [CLASSIFIER_BELOW_THRESHOLD] * 3
    assert "< 0.5 (threshold)" in results[3].detail
    # The step's verdict is decide() on its own signals, so `winnow select` agrees with it.
    for result in results:
        verdict = CLASSIFIER_STEP.decide(config, result.signals)
        assert (verdict[0] if verdict else None) == result.reason
    assert step([]) == []
    step.close()


def test_newlines_do_not_change_the_score_because_text_is_normalized(model):
    step = CLASSIFIER_STEP.build(ClassifierConfig(model=str(model)))
    text = sentences(GOOD_WORDS, 1, 7)[0]
    one, two = step(_docs([text, text.replace(" ", "\n", 3)]))
    assert one.signals == two.signals and one.reason is None  # no threshold: everything is kept


def test_prepare_resolves_label_and_normalization_from_model_json(model):
    resolved = CLASSIFIER_STEP.prepare(ClassifierConfig(model=str(model)), lambda p: open(p, "rb"))
    assert resolved.backend == "fasttext" and resolved.label == "__label__hq"
    step = CLASSIFIER_STEP.build(ClassifierConfig(model=str(model)), resolved)
    assert len(step(_docs(["text"]))) == 1


def test_bad_models_and_labels_fail_before_any_document(model, tmp_path):
    with pytest.raises(ClassifierError, match="not found: .*nope.bin"):
        CLASSIFIER_STEP.prepare(ClassifierConfig(model=str(tmp_path / "nope.bin")), None)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is no model")
    with pytest.raises(ClassifierError, match="junk.bin is not a fastText model"):
        CLASSIFIER_STEP.prepare(ClassifierConfig(model=str(junk)), None)
    with pytest.raises(ClassifierError, match="no label '__label__edu'.*__label__cc"):
        CLASSIFIER_STEP.prepare(ClassifierConfig(model=str(model), label="__label__edu"), None)
    with pytest.raises(ClassifierError, match="no config.json"):
        CLASSIFIER_STEP.prepare(ClassifierConfig(model=str(tmp_path)), None)


def test_word_vector_model_is_not_a_classifier(tmp_path):
    import fasttext

    corpus = tmp_path / "words.txt"
    corpus.write_text("\n".join(sentences(GOOD_WORDS, 50, 0)), encoding="utf-8")
    vectors = fasttext.train_unsupervised(str(corpus), dim=8, epoch=1, minCount=1, thread=1, verbose=0)
    vectors.save_model(str(tmp_path / "vectors.bin"))
    with pytest.raises(ClassifierError, match="not a supervised classifier"):
        CLASSIFIER_STEP.prepare(ClassifierConfig(model=str(tmp_path / "vectors.bin")), None)


def test_recipe_config_errors_name_the_key():
    where = "recipe r, step 3 (classifier)"
    with pytest.raises(RecipeError, match="unknown key.*'treshold'"):
        config_from_mapping(ClassifierConfig, {"model": "m.bin", "treshold": 0.1}, where)
    with pytest.raises(RecipeError, match="'model' is required"):
        config_from_mapping(ClassifierConfig, {"threshold": 0.1}, where)
    with pytest.raises(RecipeError, match="not both"):
        config_from_mapping(ClassifierConfig, {"model": "m.bin", "threshold": 0.1, "keep_top_fraction": 0.1}, where)
    with pytest.raises(RecipeError, match="keep_top_fraction"):
        config_from_mapping(ClassifierConfig, {"model": "m.bin", "keep_top_fraction": 1.5}, where)
    with pytest.raises(RecipeError, match="'threshold' expects"):
        config_from_mapping(ClassifierConfig, {"model": "m.bin", "threshold": "high"}, where)
    with pytest.raises(RecipeError, match="backend"):
        config_from_mapping(ClassifierConfig, {"model": "m.bin", "backend": "onnx"}, where)
    config = config_from_mapping(ClassifierConfig, {"model": "m.bin", "threshold": 1}, where)
    assert config.threshold == 1.0


def test_decide_rethresholds_stored_scores():
    decide = classifier_spec("classifier_dclm").decide
    row = {"classifier_dclm_score": 0.02, "language": "en", "language_score": 0.9}
    assert decide(ClassifierConfig(model="m", threshold=0.018), row) is None
    assert decide(ClassifierConfig(model="m", threshold=0.5), row)[0] == CLASSIFIER_BELOW_THRESHOLD
    assert decide(ClassifierConfig(model="m", keep_top_fraction=0.1), row) is None  # needs the corpus
    assert decide(ClassifierConfig(model="m", threshold=0.5), {})[0] == CLASSIFIER_SCORE_MISSING


def test_top_fraction_threshold_keeps_the_best_fraction_and_all_ties():
    scores = [0.1 * i for i in range(10)]  # 0.0 .. 0.9
    assert top_fraction_threshold(scores, 0.3) == pytest.approx(0.7)
    assert top_fraction_threshold(scores, 0.25) == pytest.approx(0.7)  # ceil(2.5) = 3 kept
    assert top_fraction_threshold(scores, 1.0) == 0.0
    assert top_fraction_threshold([0.5, 0.5, 0.5, 0.1], 0.25) == 0.5  # ties at the cut are kept
    assert top_fraction_threshold([None, math.nan, 0.4], 0.5) == 0.4
    assert top_fraction_threshold([], 0.1) is None
    with pytest.raises(ValueError):
        top_fraction_threshold(scores, 0.0)
    kept = [s for s in scores if top_fraction_verdict(s, 0.7 - 1e-9, 0.3) is None]
    assert len(kept) == 3
    assert top_fraction_verdict(0.1, 0.7, 0.3)[0] == CLASSIFIER_BELOW_TOP_FRACTION


def _beam_like_quantiles(values, n_quantiles=1001):
    """What beam.ApproximateQuantiles returns for a small input: quantiles[i] has rank ceil(i*n/(N-1)) - 1."""
    ranked = sorted(values)
    n = len(ranked)
    return [ranked[max(0, math.ceil(i * n / (n_quantiles - 1)) - 1)] for i in range(n_quantiles)]


@pytest.mark.parametrize("n", [1, 7, 200, 1000])
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 1.0])
def test_quantile_threshold_matches_the_exact_cut_on_small_inputs(n, fraction):
    scores = [i / n for i in range(n)]
    assert quantile_threshold(_beam_like_quantiles(scores), fraction, n) == top_fraction_threshold(scores, fraction)


def test_quantile_threshold_of_nothing_is_none():
    assert quantile_threshold([], 0.1, 0) is None
