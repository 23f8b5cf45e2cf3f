"""`winnow curate`: resolve the recipe, check inputs and output, run, and finish stats.json."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from winnow.curation.recipe import LANGUAGE, Recipe, RecipeStep, load_recipe, with_defaults
from winnow.pipelines.curate import CurateSettings, build_curate_pipeline
from winnow.pipelines.dataflow import worker_setup_args
from winnow.pipelines.options import is_local_runner, with_local_defaults
from winnow.pipelines.outputs import prepare_output, read_json, write_json

OUTPUT_TABLES = ("documents", "rejected", "errors", "stats.json")


class CurateInputError(ValueError):
    """An input pattern matches nothing (checked up front for local paths)."""


def resolve_settings(recipe: Recipe, lid_model: str | None, max_payload_bytes: int, keep_rejected_text: bool) -> CurateSettings:
    steps: list[RecipeStep] = with_defaults(recipe)
    if lid_model:
        steps = [
            RecipeStep(s.name, dataclasses.replace(s.config, model_path=lid_model)) if s.name == LANGUAGE else s
            for s in steps
        ]
    return CurateSettings(steps=tuple(steps), max_payload_bytes=max_payload_bytes, keep_rejected_text=keep_rejected_text)


def check_local_inputs(patterns: Sequence[str]) -> None:
    for pattern in patterns:
        if "://" in pattern:
            continue  # remote patterns are matched by the runner, where credentials live
        if not FileSystems.match([pattern])[0].metadata_list:
            raise CurateInputError(f"input {pattern!r} matches no file")


def run_curate(
    inputs: Sequence[str],
    output: str,
    recipe: str = "extract",
    beam_args: Sequence[str] = (),
    lid_model: str | None = None,
    max_payload_bytes: int = 10_000_000,
    keep_rejected_text: bool = True,
    output_shards: int = 0,
    overwrite: bool = False,
) -> dict[str, Any] | None:
    """Run the curation pipeline; returns the final stats (None when the runner did not wait, e.g. a dry run)."""
    loaded = load_recipe(recipe)
    settings = resolve_settings(loaded, lid_model, max_payload_bytes, keep_rejected_text)
    args = list(beam_args)
    local = is_local_runner(args)
    if local:
        check_local_inputs(inputs)
        if not FileSystems.exists(output):
            FileSystems.mkdirs(output)
        prepare_output(output, OUTPUT_TABLES, overwrite)
    options = PipelineOptions(with_local_defaults(args) + worker_setup_args(args))
    started = time.time()
    pipeline = beam.Pipeline(options=options)
    build_curate_pipeline(pipeline, list(inputs), output, settings, loaded.name, output_shards)
    result = pipeline.run()
    state = result.wait_until_finish()
    wall = time.time() - started
    stats_path = FileSystems.join(output, "stats.json")
    if str(state) not in ("DONE", "PipelineState.DONE") or not FileSystems.exists(stats_path):
        return None
    stats = read_json(stats_path)
    stats["stage_order"] = ["read", "triage", "decode", *(step.name for step in settings.steps)]
    stats["wall_time_s"] = round(wall, 3)
    stats["records_per_s"] = round(stats["records_in"] / wall, 2) if wall > 0 else None
    stats["inputs"] = list(inputs)
    stats["recipe_origin"] = loaded.origin
    stats["recipe_fingerprint"] = loaded.curation_fingerprint()
    stats["metrics"] = _counter_values(result)
    write_json(stats_path, stats)
    return stats


def _counter_values(result) -> dict[str, int]:
    """Beam counters as committed by the runner (the same names appear on Dataflow)."""
    try:
        query = result.metrics().query()
    except Exception:
        return {}
    values = {}
    for counter in query.get("counters", []):
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + int(value or 0)
    return dict(sorted(values.items()))
