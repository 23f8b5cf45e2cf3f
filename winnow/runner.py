"""`winnow run`: every stage from web archive to evaluated model, resumable.

Stages run in order into one run directory:

    input      the recipe's archives, or the embedded sample WARC generated on the fly
    curate     Beam: extraction, language, filters            -> curate/
    dedup      Beam: exact + MinHash near-duplicate removal   -> dedup/
    mix        sources by target proportions (`mix:` section) -> mix/
    tokenizer  byte-level BPE on the curated text             -> tokenizer/
    tokenize   token shards with a stable train/val split      -> tokens/
    train      GPT pre-training with checkpoints               -> train/
    evaluate   val loss/ppl/bpb, text bpb, tasks, generations -> evaluate/
    report     report.html + summary.json

Each stage records a manifest in `stages/<stage>.json` with its fingerprint:
a hash of its recipe section, its upstream fingerprints, its input files and
the Winnow version. A stage whose fingerprint matches a complete manifest is
skipped; a changed setting re-runs that stage and, through the fingerprints,
everything downstream. An interrupted training run resumes from its last
checkpoint when its fingerprint still matches.
"""
from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from winnow.core.version import __version__
from winnow.core.atomic import atomic_write_json
from winnow.core.errors import ConfigurationError, RuntimeFailure, WinnowError
from winnow.interrupt import Interrupted
from winnow.progress import Progress

# What the run directory records (context, fingerprints, manifests, run.json): winnow/run_state.py.
from winnow.run_state import (
    COMPLETE,
    RUNNING,
    RunContext,
    file_fingerprint,
    has_checkpoint,
    load_run_info,
    read_manifest,
    settings_hash,
    stage_settings,
    write_manifest,
    write_run_info,
)

# STAGES, the order, is defined once with each stage's runner: `STAGE_RUNNERS` at the end of this file.
DEMO_RECIPE = "demo"


class RunError(ConfigurationError):
    """A stage cannot run as asked (bad section, missing upstream output, an unknown stage);
    the message names it. Exit 2: the command or the recipe must change."""


class StageFailed(RuntimeFailure):
    """A stage ran and failed with one of Winnow's own errors (exit 1, or the error's own
    exit status); the message names the stage and the recipe."""

    def __init__(self, message: str, exit_code: int = RuntimeFailure.exit_code):
        super().__init__(message)
        self.exit_code = exit_code


def expand_inputs(patterns: Sequence[str]) -> list[str]:
    import glob

    out: list[str] = []
    for pattern in patterns:
        if "://" in pattern:
            out.append(pattern)
            continue
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise RunError(f"input {pattern!r} matches no file")
        out.extend(matches)
    return out


# ---------------------------------------------------------------- stages


def stage_input(ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolve the archives; generate the embedded sample when the recipe names none."""
    from winnow.sections import input_config

    config = input_config(ctx.sections.get("input"), f"recipe {ctx.recipe_name}, section input")
    if ctx.input_override:
        paths = expand_inputs(ctx.input_override)
        return {"paths": paths}, {"files": len(paths)}
    if config.paths is not None:
        paths = expand_inputs(config.paths)
        return {"paths": paths}, {"files": len(paths)}
    from winnow.demo.sample_warc import SampleSpec, write_sample_warc

    out = ctx.stage_dir("input")
    out.mkdir(parents=True, exist_ok=True)
    warc = out / "sample.warc.gz"
    labels = write_sample_warc(warc, config.sample or SampleSpec())
    return {"paths": [str(warc)], "labels": str(labels)}, {"files": 1, "generated": True}


def input_paths(ctx: RunContext) -> list[str]:
    manifest = read_manifest(ctx, "input")
    if not manifest or manifest.get("status") != COMPLETE:
        raise RunError("stage 'input' has not completed; run without --from to resolve inputs first")
    return manifest["outputs"]["paths"]


def stage_curate(ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
    from winnow.pipelines.run_curate import run_curate

    out = ctx.stage_dir("curate")
    stats = run_curate(input_paths(ctx), str(out), recipe=curate_recipe(ctx), beam_args=ctx.beam_args, overwrite=True)
    if stats is None:
        raise RunError("curation did not finish (a runner that does not wait cannot feed the next stages)")
    if not stats["accounting"]["ok"]:
        raise StageFailed(f"curation accounting failed: {stats['accounting']}")
    if stats["kept"] == 0:
        raise StageFailed(f"curation kept no document; nothing to train on{_first_errors(out, stats)} (see {out}/rejected and errors)")
    counts = {k: stats[k] for k in ("records_in", "kept", "rejected_total", "errors")}
    return {"documents": str(out)}, counts


def _first_errors(out: Path, stats: dict[str, Any]) -> str:
    """When records failed, the largest error group's type and first message, so the cause shows in the error."""
    if not stats.get("errors"):
        return ""
    from winnow.summaries import error_groups, one_line

    try:
        group = error_groups(str(out / "errors"))[0]
    except (OSError, ValueError, NotImplementedError, IndexError):
        return f"; {stats['errors']} records failed"
    return f"; {stats['errors']} of {stats['records_in']} records failed, e.g. {group.stage}/{group.error_type}: {one_line(group.first_message)}"


def run_eval_files(ctx: RunContext) -> list[str]:
    """The evaluation files of the run's `evaluate:` section, which curation decontaminates against."""
    from winnow.curation.decontaminate import evaluation_files

    return evaluation_files(ctx.sections.get("evaluate") or {})


def curate_recipe(ctx: RunContext) -> str:
    """The run's recipe, plus a `decontaminate` step against the run's own evaluation files."""
    evals = run_eval_files(ctx)
    if not evals:
        return ctx.recipe_spec
    from winnow.core.atomic import atomic_write_text
    from winnow.curation.decontaminate import recipe_with_decontamination
    from winnow.curation.recipe import recipe_source

    text, origin = recipe_source(ctx.recipe_spec)
    derived = recipe_with_decontamination(text, evals, origin)
    if derived is None:
        return ctx.recipe_spec
    path = ctx.run_dir / "curate_recipe.yaml"
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, derived)
    return str(path)


def stage_mix(ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mix the deduplicated corpus by `source_name` to the `mix:` section's weights."""
    section = ctx.sections.get("mix")
    if section is None or section is False:
        return {"documents": None, "disabled": True}, {}
    from winnow.curation.config import config_from_mapping
    from winnow.curation.mix import MixConfig
    from winnow.mix import run_mix

    config = config_from_mapping(MixConfig, section, f"recipe {ctx.recipe_name}, section mix")
    dedup = read_manifest(ctx, "dedup")
    corpus = dedup["outputs"]["documents"] if dedup and dedup.get("status") == COMPLETE and dedup["outputs"].get("documents") else str(ctx.stage_dir("curate"))
    out = ctx.stage_dir("mix")
    manifest = run_mix({name: corpus for name in config.weights}, config, out, overwrite=True, split_column="source_name")
    for warning in manifest.get("warnings", []):  # as `winnow mix` prints them; shown even without progress lines
        print(f"warning: [mix] {warning}", file=sys.stderr, flush=True)
    counts = {"documents": manifest["documents"], "total_units": manifest["total_units"], "max_abs_error": manifest["max_abs_error"]}
    return {"documents": str(out), "manifest": str(out / "mix_manifest.json")}, counts


def documents_dir(ctx: RunContext) -> str:
    """The corpus the training stages read: the mix when it ran, else dedup's output when dedup ran, else curation's."""
    mix = read_manifest(ctx, "mix")
    if mix and mix.get("status") == COMPLETE and mix["outputs"].get("documents"):
        return mix["outputs"]["documents"]
    dedup = read_manifest(ctx, "dedup")
    if dedup and dedup.get("status") == COMPLETE and dedup["outputs"].get("documents"):
        return dedup["outputs"]["documents"]
    return str(ctx.stage_dir("curate"))


def stage_dedup(ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
    section = ctx.sections.get("dedup")
    if section is None or section is False:
        return {"documents": None, "disabled": True}, {}
    from winnow.curation.minhash import minhash_config_from_mapping
    from winnow.pipelines.dedup.launcher import run_dedup

    config = minhash_config_from_mapping(section or {}, f"recipe {ctx.recipe_name}, section dedup")
    out = ctx.stage_dir("dedup")
    if out.exists():
        shutil.rmtree(out)
    stats = run_dedup(str(ctx.stage_dir("curate")), str(out), config, ctx.beam_args)
    counts = {k: stats.get(k) for k in ("documents_in", "kept", "exact_duplicates", "near_duplicates", "clusters")}
    return {"documents": str(out)}, counts


def stage_tokenizer(ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
    from winnow.training.tokenizer import TokenizerConfig, train_tokenizer

    from winnow.curation.config import config_from_mapping

    config = config_from_mapping(TokenizerConfig, ctx.sections.get("tokenizer"), f"recipe {ctx.recipe_name}, section tokenizer")
    out = ctx.stage_dir("tokenizer")
    out.mkdir(parents=True, exist_ok=True)
    report = train_tokenizer(documents_dir(ctx), config, out / "tokenizer.json")
    info = report.to_dict()
    atomic_write_json(out / "report.json", info)
    return {"tokenizer": str(out / "tokenizer.json")}, {"vocab_size": info["vocab_size"], "bytes_per_token": info["bytes_per_token"]}


def stage_tokenize(ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
    from winnow.training.tokens import summarize, tokenize_corpus

    from winnow.core.config_loader import config_from_mapping
    from winnow.training.config import TokenizeConfig

    config = config_from_mapping(TokenizeConfig, ctx.sections.get("tokenize"), f"recipe {ctx.recipe_name}, section tokenize")
    out = ctx.stage_dir("tokens")
    manifest = tokenize_corpus(
        documents_dir(ctx), str(ctx.stage_dir("tokenizer") / "tokenizer.json"), str(out), overwrite=True,
        val_fraction=config.val_fraction, workers=config.workers, shard_tokens=config.shard_tokens,
    )
    summary = summarize(manifest)
    return {"tokens": str(out)}, {k: v for k, v in summary.items() if isinstance(v, (int, float, str))}


def train_config(ctx: RunContext):
    from winnow.sections import train_config_of

    try:
        return train_config_of(ctx.sections, ctx.recipe_name)
    except ConfigurationError as exc:
        raise RunError(str(exc)) from exc


def stage_train(ctx: RunContext, resume: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    from winnow.training.trainer import train

    out = ctx.stage_dir("train")
    result = train(train_config(ctx), ctx.stage_dir("tokens"), out, resume=resume, overwrite=not resume, progress=ctx.progress)
    counts = {k: v for k, v in vars(result).items() if isinstance(v, (int, float, str)) or v is None}
    return {"run": str(out)}, counts


def stage_evaluate(ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
    from winnow.training.eval_run import evaluate_run

    section = dict(ctx.sections.get("evaluate") or {})
    out = ctx.stage_dir("evaluate")
    out.mkdir(parents=True, exist_ok=True)
    results = evaluate_run(ctx.stage_dir("train"), ctx.stage_dir("tokens"), section, source=f"recipe {ctx.recipe_name}, section evaluate")
    atomic_write_json(out / "results.json", results)
    val = results.get("val", {})
    return {"results": str(out / "results.json")}, {"val_loss": val.get("loss"), "val_bpb": val.get("bits_per_byte")}


def stage_report(ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
    from winnow.report import write_report

    html, summary = write_report(ctx.run_dir)
    return {"report": str(html), "summary": str(summary)}, {}


# ---------------------------------------------------------------- orchestration


def fingerprint(ctx: RunContext, stage: str, upstream: str | None) -> str:
    inputs: Any = None
    if stage == "curate":
        inputs = [file_fingerprint(p) for p in input_paths(ctx)] + [file_fingerprint(p) for p in run_eval_files(ctx)]
    return settings_hash({"stage": stage, "settings": stage_settings(ctx, stage), "upstream": upstream, "inputs": inputs, "version": __version__})


def _say(ctx: RunContext, message: str) -> None:
    if ctx.progress:
        print(message, file=sys.stderr, flush=True)


def run_stages(
    ctx: RunContext,
    from_stage: str | None = None,
    until_stage: str | None = None,
) -> dict[str, Any]:
    """Run the stages in order, skipping the ones whose manifest matches."""
    for name in (from_stage, until_stage):
        if name is not None and name not in STAGES:
            raise RunError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
    first = STAGES.index(from_stage) if from_stage else 0
    last = STAGES.index(until_stage) if until_stage else len(STAGES) - 1
    for warning in check_plan(ctx, STAGES[first : last + 1]):
        _say(ctx, f"warning: {warning}")
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    run_info: dict[str, Any] = {"recipe": ctx.recipe_name, "recipe_spec": ctx.recipe_spec, "version": __version__, "stages": {}}
    previous = load_run_info(ctx)
    upstream: str | None = None
    for index, stage in enumerate(STAGES):
        if index > last:
            break
        fp = fingerprint(ctx, stage, upstream)
        ctx.fingerprints[stage] = fp
        manifest = read_manifest(ctx, stage)
        matches = manifest is not None and manifest.get("fingerprint") == fp
        if index < first:
            if not (manifest and manifest.get("status") == COMPLETE):
                raise RunError(f"--from {from_stage}: stage {stage!r} before it has not completed")
            ctx.fingerprints[stage] = upstream = manifest["fingerprint"]
            run_info["stages"][stage] = previous.get(stage, {"status": "skipped"}) | {"status": "skipped"}
            continue
        forced = from_stage is not None and index >= first
        if matches and manifest.get("status") == COMPLETE and not forced and stage != "report":
            _say(ctx, f"[{stage}] up to date, skipped ({_brief(manifest.get('counts'))})")
            run_info["stages"][stage] = {"status": "skipped", "wall_s": manifest.get("wall_s"), "counts": manifest.get("counts")}
            upstream = fp
            continue
        if stage == "report":
            write_run_info(ctx, run_info)  # the report reads this run's stage list
        resume = stage == "train" and matches and manifest.get("status") == RUNNING and has_checkpoint(ctx)
        _say(ctx, f"[{stage}] {'resuming' if resume else 'running'} ...")
        write_manifest(ctx, stage, {"stage": stage, "status": RUNNING, "fingerprint": fp, "started": time.time()})
        started = time.time()
        try:
            with Progress(f"run [{stage}] (stage {index - first + 1} of {last - first + 1})", interval_s=None if ctx.progress else 0):
                outputs, counts = _run_stage(ctx, stage, resume)
        except KeyboardInterrupt as exc:
            run_info["stages"][stage] = {"status": "interrupted"}
            write_run_info(ctx, run_info)
            raise Interrupted(_interrupted_stage(ctx, stage, exc)) from None
        except Exception as exc:
            run_info["stages"][stage] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            write_run_info(ctx, run_info)
            # Winnow's own errors carry a message for the user (and their exit status);
            # anything else is a defect and keeps its traceback.
            if isinstance(exc, WinnowError) and not isinstance(exc, RunError):
                raise StageFailed(f"stage {stage} (recipe {ctx.recipe_name}): {exc}", exc.exit_code) from exc
            raise
        wall = time.time() - started
        write_manifest(
            ctx,
            stage,
            {"stage": stage, "status": COMPLETE, "fingerprint": fp, "version": __version__, "settings_hash": settings_hash(stage_settings(ctx, stage)),
             "upstream": upstream, "outputs": outputs, "counts": counts, "wall_s": round(wall, 3), "finished": time.time()},
        )
        status = "disabled" if outputs.get("disabled") else "ran"
        run_info["stages"][stage] = {"status": status, "wall_s": round(wall, 3), "counts": counts}
        _say(ctx, f"[{stage}] {'disabled by the recipe' if status == 'disabled' else 'done'} in {wall:.1f} s ({_brief(counts)})")
        upstream = fp
    write_run_info(ctx, run_info)
    return run_info


def _interrupted_stage(ctx: RunContext, stage: str, exc: KeyboardInterrupt) -> str:
    """What Ctrl-C stopped in `winnow run`, and what running the same command again does."""
    inner = f" ({exc.message})" if isinstance(exc, Interrupted) else ""
    resumable = stage == "train" and has_checkpoint(ctx)
    again = "resumes training from its last checkpoint" if resumable else f"redoes stage {stage}"
    return f"stage {stage} stopped{inner}; completed stages are kept: the same command skips them and {again}"


def _run_stage(ctx: RunContext, stage: str, resume: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    return STAGE_RUNNERS[stage](ctx, resume)


def check_plan(ctx: RunContext, stages: Sequence[str]) -> list[str]:
    """Before any stage: the stages about to run have what they need (a training budget
    when `train` is one of them, a warm-up that fits); returns warnings."""
    from winnow.sections import check_training_plan

    # The recipe load_context read and checked: not read again from disk.
    problems, warnings = check_training_plan(ctx.recipe_name, ctx.sections, stages)
    if problems:
        raise RunError("\n  ".join(problems))
    return warnings


def _brief(counts: dict[str, Any] | None) -> str:
    if not counts:
        return "-"
    parts = []
    for k, v in counts.items():
        if isinstance(v, float):
            parts.append(f"{k} {v:.4g}")
        elif v is not None:
            parts.append(f"{k} {v}")
    return ", ".join(parts[:6])


def load_context(recipe_spec: str | None, run_dir: str | Path, beam_args: Sequence[str] = (), input_override: Sequence[str] | None = None, progress: bool = True) -> RunContext:
    from winnow.curation.recipe import load_recipe

    from winnow.sections import check_recipe

    spec = recipe_spec or DEMO_RECIPE
    recipe = load_recipe(spec)
    check_recipe(recipe)  # every section, before any stage; the training budget is checked by run_stages
    sections = dict(recipe.sections)
    beam_options = sections.get("beam_options") or []
    return RunContext(
        recipe_spec=spec,
        run_dir=Path(run_dir),
        beam_args=list(beam_options) + list(beam_args),
        sections=sections,
        recipe_name=recipe.name,
        recipe_fingerprint=recipe.curation_fingerprint(),
        input_override=list(input_override) if input_override else None,
        progress=progress,
    )


# Every stage in run order with its runner, (ctx, resume) -> (outputs, counts): the one
# list of stages (`winnow run --help` and `--from/--until` read STAGES). Names are looked
# up when a stage runs, so tests may replace a stage function.
STAGE_RUNNERS: dict[str, Callable[[RunContext, bool], tuple[dict[str, Any], dict[str, Any]]]] = {
    "input": lambda ctx, resume: stage_input(ctx),
    "curate": lambda ctx, resume: stage_curate(ctx),
    "dedup": lambda ctx, resume: stage_dedup(ctx),
    "mix": lambda ctx, resume: stage_mix(ctx),
    "tokenizer": lambda ctx, resume: stage_tokenizer(ctx),
    "tokenize": lambda ctx, resume: stage_tokenize(ctx),
    "train": lambda ctx, resume: stage_train(ctx, resume),
    "evaluate": lambda ctx, resume: stage_evaluate(ctx),
    "report": lambda ctx, resume: stage_report(ctx),
}
STAGES = tuple(STAGE_RUNNERS)
