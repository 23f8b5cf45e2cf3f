"""Every recipe section, checked as a whole before any stage runs.

A recipe is read once, up front: the curation steps (curation/recipe.py), and
here every other section, each built by the one strict loader
(core/config_loader.py) from its frozen dataclass. `check_recipe` collects
every problem, each naming the section and the key (and the nearest valid
key), and raises one RecipeError (exit 2) so that a typo in `train:` is found
before hours of curation, not after.

`section_types()` maps each section to its dataclass; docs/recipes.md is
generated from it (`python -m winnow.cli.docs`).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from winnow.core.config_loader import HELP, config_from_mapping
from winnow.curation.config import RecipeError
from winnow.curation.decontaminate import GENERATED_TASK_PREFIXES  # task specs that are generated, not files
from winnow.demo.sample_warc import SampleSpec
from winnow.training.config import EvaluateConfig, TokenizeConfig

TRAIN_STAGE = "train"
DEFAULT_MODEL = "tiny"


def _h(default: Any, text: str, factory: Callable[[], Any] | None = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={HELP: text})
    return field(default=default, metadata={HELP: text})


@dataclass(frozen=True)
class InputConfig:
    """`input:` the archives to curate, or the embedded sample WARC generated on the fly."""

    paths: tuple[str, ...] | None = _h(None, "files or globs of WARC/ARC/WET, JSONL, Parquet or text (local, gs://, s3://)")
    sample: SampleSpec | None = _h(None, "generate the embedded sample archive: {pages: 240, seed: 0} (the default without paths)")

    def __post_init__(self) -> None:
        if self.paths is not None and not self.paths:
            raise ValueError("'paths' is empty; name at least one file or glob, or leave it out for the sample")
        if self.paths is not None and self.sample is not None:
            raise ValueError("give 'paths' or 'sample', not both")


def input_config(section: Any, where: str) -> InputConfig:
    """The `input:` section; a single path string counts as a list of one."""
    if isinstance(section, Mapping) and isinstance(section.get("paths"), str):
        section = {**section, "paths": [section["paths"]]}
    return config_from_mapping(InputConfig, section, where, RecipeError)


# Sections built directly from one dataclass: name -> (loader(section, where)). `dedup`
# and `mix` may be false (or absent) to skip their stage.
def _dedup(section: Any, where: str) -> Any:
    from winnow.curation.minhash import minhash_config_from_mapping

    return minhash_config_from_mapping(section, where)


def _mix(section: Any, where: str) -> Any:
    from winnow.curation.mix import MixConfig

    return config_from_mapping(MixConfig, section, where, RecipeError)


def _tokenizer(section: Any, where: str) -> Any:
    from winnow.training.config import TokenizerConfig

    return config_from_mapping(TokenizerConfig, section, where, RecipeError)


def _train(section: Any, where: str, model: Any = DEFAULT_MODEL) -> Any:
    from winnow.training.config import TrainConfig, train_config_from_mapping

    if section is not None and not isinstance(section, Mapping):
        raise RecipeError(f"{where}: expected a mapping of train keys, got {section!r}")
    if section and "model" in section:
        # One place for the model: a train.model would silently replace the model: section.
        raise RecipeError(f"{where}: key 'model' belongs in the recipe's model: section (a preset, a YAML file or a mapping of model keys)")
    return train_config_from_mapping(dict(section or {}), where, TrainConfig(model=model))


def train_config_of(sections: Mapping[str, Any], recipe_name: str) -> Any:
    """The train stage's TrainConfig: the `train:` keys over the `model:` section, which goes
    to the trainer as it stands (a mapping is built by the strict loader there, as in
    `_check_model`; nothing is written to a model.yaml in between)."""
    model = sections.get("model", DEFAULT_MODEL)
    return _train(sections.get("train"), f"recipe {recipe_name}, section train", dict(model) if isinstance(model, Mapping) else model)


def _evaluate(section: Any, where: str) -> EvaluateConfig:
    config = config_from_mapping(EvaluateConfig, section, where, RecipeError)
    for spec in config.tasks:
        if not spec.startswith(GENERATED_TASK_PREFIXES):
            _require_file(spec, f"{where}, tasks")
    if config.text and not any(c in config.text for c in "*?["):
        _require_file(config.text, f"{where}, text", directory_ok=True)
    return config


def _require_file(path: str, where: str, directory_ok: bool = False) -> None:
    """A local file the recipe names must exist now, not when its stage starts."""
    if "://" in path:
        return  # remote: the runner that reads it has the credentials
    if os.path.isfile(path) or (directory_ok and os.path.isdir(path)):
        return
    raise RecipeError(f"{where}: {path} does not exist")


SECTION_LOADERS: dict[str, Callable[[Any, str], Any]] = {
    "input": input_config,
    "dedup": _dedup,
    "mix": _mix,
    "tokenizer": _tokenizer,
    "tokenize": lambda section, where: config_from_mapping(TokenizeConfig, section, where, RecipeError),
    "train": _train,
    "evaluate": _evaluate,
}
SKIPPABLE = ("dedup", "mix")  # `dedup: false` / no `mix:` turns the stage off


def check_recipe(recipe: Any, stages: Sequence[str] = (), beam_args: Sequence[str] = ()) -> list[str]:
    """Every section of `recipe` (a parsed curation.recipe.Recipe); raises one RecipeError
    listing every problem. `stages` are the stages about to run (a training budget is
    required when `train` is one). Returns warnings (for the caller to print)."""
    problems: list[str] = []
    warnings: list[str] = []
    sections = recipe.sections
    for name, loader in SECTION_LOADERS.items():
        value = sections.get(name)
        if name in SKIPPABLE and (value is None or value is False):
            continue
        if name == "mix" and value is None:
            continue
        where = f"recipe {recipe.name}, section {name}"
        try:
            loader(value, where)
        except (TypeError, ValueError) as exc:  # RecipeError, ConfigError, a dataclass's own check
            problems.append(str(exc) if str(exc).startswith(where) else f"{where}: {exc}")
    problems += _check_steps(recipe)
    if "model" in sections or not stages or "train" in stages:
        # The model check imports torch (seconds): curate and dedup skip it unless the
        # recipe has a model section to check (a Dataflow image has no torch at all).
        problems += _check_model(recipe)
    problems += _check_beam_options(recipe, beam_args)
    if not problems:
        budget_problems, warnings = check_training_plan(recipe.name, recipe.sections, stages)
        problems += budget_problems
    if problems:
        raise RecipeError("\n  ".join(["the recipe is not valid; nothing has run:"] + problems))
    return warnings


def _check_steps(recipe: Any) -> list[str]:
    """Classifier steps name a model that exists (a folder or a file), before any stage."""
    problems = []
    for step in recipe.steps:
        model = getattr(step.config, "model", None)
        if step.name.startswith("classifier") and isinstance(model, str) and model:
            try:
                _require_file(model, f"recipe {recipe.name}, step {step.name}, model", directory_ok=True)
            except RecipeError as exc:
                problems.append(str(exc))
    return problems


def _check_model(recipe: Any) -> list[str]:
    """`model:` a preset name, a YAML file, or a mapping of model keys (vocab_size comes
    from the tokenizer)."""
    where = f"recipe {recipe.name}, section model"
    model = recipe.sections.get("model", DEFAULT_MODEL)
    try:
        from winnow.training.model import PRESETS
    except ImportError:  # no torch here: the train stage will say so
        return []
    from winnow.training.config import model_config_for

    tokenizer = recipe.sections.get("tokenizer") or {}
    vocab = tokenizer.get("vocab_size", 8192) if isinstance(tokenizer, Mapping) else 8192
    if isinstance(model, str) and model not in PRESETS and not os.path.isfile(model):
        from winnow.core.errors import did_you_mean

        return [f"{where}: {model!r} is neither a preset ({', '.join(PRESETS)}) nor an existing YAML file"
                f"{did_you_mean(model, PRESETS)}"]
    if not isinstance(model, (str, Mapping)):
        return [f"{where}: expected a preset name, a YAML path or a mapping of model keys, got {model!r}"]
    try:
        model_config_for(model, vocab, where)  # the trainer builds it the same way
    except (TypeError, ValueError) as exc:
        message = str(exc)
        return [message if message.startswith(where) else f"{where}: {message}"]
    return []


def _check_beam_options(recipe: Any, beam_args: Sequence[str]) -> list[str]:
    where = f"recipe {recipe.name}, section beam_options"
    options = recipe.sections.get("beam_options") or []
    if not isinstance(options, list) or not all(isinstance(x, str) for x in options):
        return [f"{where}: expected a list of strings like '--direct_num_workers=2', got {options!r}"]
    if not options:
        return []
    from winnow.pipelines.options_cli import reject_unknown_beam_args

    try:
        reject_unknown_beam_args(list(options))
    except ValueError as exc:
        return [f"{where}: {exc}"]
    return []


def check_training_plan(recipe_name: str, sections: Mapping[str, Any], stages: Sequence[str]) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the run's length: a budget when training will run, and a
    warm-up that fits in it (an explicit longer warm-up is an error, the default a warning)."""
    if TRAIN_STAGE not in stages:
        return [], []
    where = f"recipe {recipe_name}, section train"
    section = sections.get("train") or {}
    if not ({"max_steps", "max_tokens"} & set(section)):
        return [
            f"{where}: no training budget: add max_steps or max_tokens (see `winnow recipes show demo`), "
            "or stop before training with --until tokenize"
        ], []
    from winnow.training.config import warmup_problems

    config = _train(section, where)
    return warmup_problems(config, where, explicit="warmup_steps" in section)


def section_types() -> dict[str, Any]:
    """Every recipe section with the dataclass its keys come from (for the reference docs)."""
    from winnow.curation.minhash import MinHashConfig
    from winnow.curation.mix import MixConfig
    from winnow.training.config import TokenizerConfig

    return {
        "input": InputConfig,
        "dedup": MinHashConfig,
        "mix": MixConfig,
        "tokenizer": TokenizerConfig,
        "tokenize": TokenizeConfig,
        "evaluate": EvaluateConfig,
    }

