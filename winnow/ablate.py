"""`winnow ablate`: which curation recipe makes the better model?

For each recipe the same archives are curated (and deduplicated when the recipe
says so) with the `winnow run` stages. One tokenizer is trained on the union of
the curated corpora (or a given, frozen one is used) so no recipe gets a
tokenizer fitted to itself. Then identical models are trained on each corpus
with the same token budget and paired seeds (`winnow/ablation/arms.py`),
scored on a clean reference text, BLiMP and each arm's own held-out split at
their last checkpoints (`winnow/ablation/scoring.py`), and every recipe is
compared with the first one given (the baseline): mean paired difference,
95% interval, p-value, minimum detectable effect and a verdict
(`winnow/ablation/stats.py`). With `calibrate=True` the same instrument is
first checked on planted junk (`winnow/ablation/calibrate.py`), and a null
result says when the instrument could not see the smallest dose.

Layout under OUTPUT:
    recipes/<name>/...            curate/, dedup/ and stage manifests per recipe
    tokenizer/tokenizer.json      the shared tokenizer
    recipes/<name>/tokens/        token shards of that recipe's corpus
    recipes/<name>/train-seed<S>/ one training run per seed
    calibrate/...                 with calibrate=True: the calibration's arms
    ablate/results.json           the table the report shows
    ablate/calibration.json       with calibrate=True
    report.html, summary.json
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from winnow.ablation.arms import Arm, ArmError, Instrument, run_arms, say
from winnow.ablation.scoring import PRIMARY_METRIC, ScoreSpec
from winnow.ablation.stats import INCONCLUSIVE
from winnow.core.atomic import atomic_write_json
from winnow.run_state import settings_hash
from winnow.runner import documents_dir, load_context, run_stages
from winnow.core.errors import ConfigurationError
from winnow.progress import Progress


class AblationError(ConfigurationError):
    """An ablation cannot run as asked; the message says why."""


def run_ablation(
    recipes: Sequence[str],
    output: str,
    budget_tokens: int | None,
    eval_text: str,
    inputs: Sequence[str] | None = None,
    tasks: Sequence[str] = (),
    seeds: Sequence[int] = (0,),
    model: str = "tiny",
    vocab_size: int = 4096,
    tokenizer: str | None = None,
    train_overrides: dict[str, Any] | None = None,
    beam_args: Sequence[str] = (),
    progress: bool = True,
    score: ScoreSpec | None = None,
    max_epochs: float | None = 4.0,
    alpha: float = 0.01,
    calibrate_doses: Sequence[float] | None = None,
    anneal: Any = None,
    preset: str | None = None,
) -> dict[str, Any]:
    """Curate, train and compare; `calibrate_doses` also runs the calibration checks;
    `anneal` (an ablation.anneal.AnnealSpec) continues one base model per seed instead
    of training from scratch."""
    if not Path(eval_text).exists():
        raise AblationError(f"--eval-text {eval_text}: no such file or directory")
    out = Path(output)
    contexts = {}
    for spec in recipes:  # every recipe is checked whole before any of them curates
        ctx = load_context(spec, out / "recipes" / Path(spec).stem, beam_args, inputs, progress)
        if ctx.recipe_name in contexts:
            raise AblationError(f"recipe {ctx.recipe_name!r} is given twice")
        contexts[ctx.recipe_name] = ctx
    for ctx in contexts.values():
        say(progress, f"== recipe {ctx.recipe_name}: curation")
        run_stages(ctx, until_stage="dedup")
    corpora = {name: documents_dir(ctx) for name, ctx in contexts.items()}
    if anneal is not None:
        tokenizer_path = base_tokenizer(out, anneal, vocab_size, tokenizer, progress)
    else:
        tokenizer_path = shared_tokenizer(out, list(corpora.values()), vocab_size, tokenizer, progress,
                                          [c.fingerprints.get("dedup") for c in contexts.values()])
    instrument = Instrument(
        budget_tokens=budget_tokens, seeds=tuple(seeds), score=score or ScoreSpec(eval_text=eval_text, tasks=tuple(tasks)),
        model=model, train_overrides=dict(train_overrides or {}), max_epochs=max_epochs, alpha=alpha,
        preset=preset,
    )
    arms = [Arm(name, docs, contexts[name].run_dir) for name, docs in corpora.items()]
    try:
        scored_arms, scored_with = arms, instrument
        if anneal is not None:
            from winnow.ablation.anneal import prepare_anneal

            scored_arms, scored_with = prepare_anneal(arms, anneal, out / "anneal", out / "anneal" / "arms", tokenizer_path, instrument, progress)
        models = f"{len(scored_arms)} recipes x {len(instrument.seeds)} seed(s)"
        with Progress(f"ablate [training and scoring {models}]", interval_s=None if progress else 0):
            results = run_arms(scored_arms, tokenizer_path, scored_with, progress)
        results["mode"] = "anneal" if anneal is not None else "scratch"
        if calibrate_doses is not None:
            from winnow.ablation.calibrate import calibrate_on_documents

            baseline = arms[0].name
            say(progress, f"== calibration: junk planted into {baseline}'s corpus")
            calibration = calibrate_on_documents(corpora[baseline], out, tokenizer_path, instrument, calibrate_doses, progress, anneal=anneal)
            results["calibration"] = {k: calibration[k] for k in ("smallest_dose_detected", "aa_passed", "doses_tried")}
            annotate_with_calibration(results, calibration)
    except ArmError as exc:
        raise AblationError(str(exc)) from exc
    write_results(out, results)
    return results


def shared_tokenizer(out: Path, corpora: list[str], vocab_size: int, given: str | None, progress: bool, fingerprints: list[Any]) -> Path:
    """The given tokenizer (frozen), or one trained on the union of the corpora (reused when unchanged)."""
    from winnow.training.tokenizer import TokenizerConfig, train_tokenizer

    if given:
        path = Path(given)
        if not path.is_file():
            raise AblationError(f"--tokenizer {given}: no such file")
        return path
    path = out / "tokenizer" / "tokenizer.json"
    wanted = settings_hash({"union": corpora, "vocab": vocab_size, "fingerprints": fingerprints})
    stamp = path.with_suffix(".settings")
    if not (path.is_file() and stamp.is_file() and stamp.read_text() == wanted):
        say(progress, f"== shared tokenizer on {len(corpora)} corpora (vocab {vocab_size})")
        path.parent.mkdir(parents=True, exist_ok=True)
        train_tokenizer(corpora, TokenizerConfig(vocab_size=vocab_size), path)
        stamp.write_text(wanted)
    return path


def base_tokenizer(out: Path, anneal: Any, vocab_size: int, given: str | None, progress: bool) -> Path:
    """Anneal mode's frozen tokenizer: the given one, or one trained on the neutral base corpus only."""
    from winnow.ablation.calibrate import pages_digest, write_corpus

    base_path = write_corpus(anneal.base_pages, out / "anneal" / "corpora" / "base.parquet")
    return shared_tokenizer(out / "anneal", [base_path], vocab_size, given, progress, [pages_digest(anneal.base_pages)])


def annotate_with_calibration(results: dict[str, Any], calibration: dict[str, Any]) -> None:
    """An inconclusive verdict is a null result only if the instrument could see
    the smallest planted dose; otherwise each such verdict says so."""
    smallest = min(calibration["doses_tried"]) if calibration["doses_tried"] else None
    detected = calibration["smallest_dose_detected"]
    blind = detected is None or (smallest is not None and detected > smallest)
    note = None
    if blind:
        seen = f"it detected {detected:g} junk" if detected is not None else "it detected no dose tried"
        note = f"cannot tell at this budget: the instrument could not detect {smallest:g} junk ({seen})"
    if not calibration["aa_passed"]:
        note = (note + "; " if note else "") + "the A/A check was not inconclusive, so verdicts are suspect"
    for comparison in results["comparisons"].values():
        for metric, row in comparison.items():
            if note and (row["verdict"] == INCONCLUSIVE or not calibration["aa_passed"]):
                row["note"] = note
    results["calibration"]["note"] = note


def write_results(out: Path, results: dict[str, Any]) -> None:
    (out / "ablate").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "ablate" / "results.json", results)
    try:
        from winnow.report import write_report

        write_report(out)
    except ImportError:
        pass


def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    baseline = results.get("baseline")
    table = Table(title=f"ablation: {results['budget_tokens']:,} tokens per model, {PRIMARY_METRIC} on {results['eval_text']} (baseline {baseline})")
    for column in ("recipe", "documents", "unique tokens", "epochs", "bpb (mean ± std)", "vs baseline (95% CI)", "p", "MDE", "verdict"):
        table.add_column(column, justify="left" if column in ("recipe", "verdict") else "right")
    for name, row in results["recipes"].items():
        c = results.get("comparisons", {}).get(name, {}).get(PRIMARY_METRIC)
        diff = "—" if c is None else f"{_num(c['mean_diff'], '+.4f')} ({_num(c['ci95'][0], '+.3f')}, {_num(c['ci95'][1], '+.3f')})"
        table.add_row(
            name, f"{row['documents']:,}", f"{row['tokens']:,}", f"{row.get('epochs', 0):.2f}",
            f"{row['mean_bpb']:.4f} ± {row['std_bpb']:.4f}", diff,
            "—" if c is None else _num(c["p_value"], ".3g"), "—" if c is None else _num(c["mde"], ".4f"),
            "baseline" if c is None else c["verdict"] + (" *" if c.get("note") else ""),
        )
    Console().print(table)
    note = (results.get("calibration") or {}).get("note")
    if note:
        Console().print(f"* {note}")


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
