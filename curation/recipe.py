"""Recipes: an ordered list of curation steps with their parameters, in YAML.

Built-in recipes ship as package data (`winnow.recipes`); a path to a YAML file
works the same way. Every key is checked: an unknown step, an unknown key or a
wrong type is a `RecipeError` that names it.

    name: fineweb
    description: ...
    steps:
      - extract: {favor_precision: true, timeout_s: 1.0}
      - language: {keep: [en], min_score: 0.65}
      - gopher_quality: {}
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# The two steps every recipe has; their names are stage names, defined once in stages.py.
from winnow.curation.stages import STAGE_EXTRACT as EXTRACT, STAGE_LANGUAGE as LANGUAGE
from winnow.core.config_loader import config_to_mapping
from winnow.curation.config import RecipeError, config_from_mapping
from winnow.core.errors import did_you_mean, unknown_key_message

MODE_FILTER = "filter"
MODE_ANNOTATE = "annotate"
MODES = (MODE_FILTER, MODE_ANNOTATE)

# Sections other than `steps` belong to later stages (dedup, tokenizer, training,
# evaluation); winnow/sections.py checks them all before any stage runs. Anything
# else is a typo.
TOP_LEVEL_KEYS = (
    "name",
    "description",
    "mode",
    "input",
    "steps",
    "dedup",
    "mix",
    "tokenizer",
    "tokenize",
    "model",
    "train",
    "evaluate",
    "beam_options",
)


@dataclass(frozen=True)
class RecipeStep:
    name: str
    config: Any


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    steps: tuple[RecipeStep, ...]
    sections: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""
    mode: str = "filter"  # or "annotate": every step scores every document, decisions applied after

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def config_of(self, step_name: str) -> Any | None:
        return next((s.config for s in self.steps if s.name == step_name), None)

    def curation_fingerprint(self) -> str:
        """Hash of the resolved curation steps (and the mode), for stage manifests."""
        payload: list[Any] = [[s.name, config_to_mapping(s.config)] for s in self.steps]
        if self.mode != MODE_FILTER:
            payload.append(["mode", self.mode])
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def step_config_types() -> dict[str, type]:
    """Every step a recipe may name, mapped to its config dataclass."""
    from winnow.curation.steps import all_step_names, step_spec

    return {name: step_spec(name).config_type for name in all_step_names()}


def builtin_recipe_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in resources.files("winnow.recipes").iterdir() if p.name.endswith(".yaml"))


def recipe_source(name_or_path: str) -> tuple[str, str]:
    """(YAML text, origin) for a built-in recipe name or a file path."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise RecipeError(f"recipe file {name_or_path} does not exist")
        return path.read_text(encoding="utf-8"), str(path)
    builtin = resources.files("winnow.recipes") / f"{name_or_path}.yaml"
    if not builtin.is_file():
        raise RecipeError(
            f"unknown recipe {name_or_path!r}: not a file and not a built-in recipe ({', '.join(builtin_recipe_names())})"
        )
    return builtin.read_text(encoding="utf-8"), f"built-in:{name_or_path}"


def load_recipe(name_or_path: str) -> Recipe:
    text, origin = recipe_source(name_or_path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {origin}: invalid YAML: {exc}") from exc
    return parse_recipe(data, origin)


def parse_recipe(data: Any, origin: str) -> Recipe:
    if not isinstance(data, Mapping):
        raise RecipeError(f"recipe {origin}: expected a mapping at the top level, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise RecipeError(unknown_key_message(f"recipe {origin}, top level", unknown, TOP_LEVEL_KEYS))
    name = data.get("name") or Path(origin).stem
    if not isinstance(name, str):
        raise RecipeError(f"recipe {origin}: 'name' must be a string")
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list):
        raise RecipeError(f"recipe {origin}: 'steps' must be a list of single-key mappings")
    from winnow.curation.classifier.step import ClassifierConfig, is_classifier_step_name

    known = step_config_types()
    steps: list[RecipeStep] = []
    for index, entry in enumerate(raw_steps):
        where = f"recipe {name}, step {index + 1}"
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise RecipeError(f"{where}: each step is a mapping with exactly one key (the step name), got {entry!r}")
        (step_name, params), = entry.items()
        if step_name not in known and is_classifier_step_name(step_name):
            known[step_name] = ClassifierConfig  # `classifier_<name>`: several classifiers in one recipe
        if step_name not in known:
            raise RecipeError(f"{where}: unknown step {step_name!r}{did_you_mean(str(step_name), known)}; known steps are {sorted(known)}")
        if params is not None and not isinstance(params, Mapping):
            raise RecipeError(f"{where} ({step_name}): parameters must be a mapping, got {params!r}")
        if step_name in (s.name for s in steps):
            raise RecipeError(f"{where}: step {step_name!r} appears twice")
        config = config_from_mapping(known[step_name], params, f"{where} ({step_name})")
        steps.append(RecipeStep(step_name, config))
    _check_order(steps, name)
    mode = data.get("mode", MODE_FILTER)
    if mode not in MODES:
        raise RecipeError(f"recipe {name}: 'mode' must be one of {list(MODES)}, got {mode!r}")
    sections = {k: v for k, v in data.items() if k not in ("name", "description", "steps", "mode")}
    return Recipe(
        name=name, description=str(data.get("description") or "").strip(), steps=tuple(steps),
        sections=sections, origin=origin, mode=mode,
    )


def _check_order(steps: list[RecipeStep], name: str) -> None:
    """Extraction comes first (everything else reads its text); language before filters that use it."""
    names = [s.name for s in steps]
    if EXTRACT in names and names.index(EXTRACT) != 0:
        raise RecipeError(f"recipe {name}: 'extract' must be the first step (it produces the text the others read)")


def curate_steps(recipe: Recipe, lid_model: str | None = None) -> list[RecipeStep]:
    """The steps `winnow curate` runs: `with_defaults`, with `--lid-model` replacing the language model."""
    steps = with_defaults(recipe)
    if lid_model:
        steps = [
            RecipeStep(s.name, replace(s.config, model_path=lid_model)) if s.name == LANGUAGE else s
            for s in steps
        ]
    return steps


def with_defaults(recipe: Recipe) -> list[RecipeStep]:
    """The steps actually run: `extract` and `language` are always present (with defaults when not named)."""
    from winnow.curation.extract import ExtractConfig
    from winnow.curation.langid import LanguageConfig

    steps = list(recipe.steps)
    names = [s.name for s in steps]
    if EXTRACT not in names:
        steps.insert(0, RecipeStep(EXTRACT, ExtractConfig()))
    if LANGUAGE not in names:
        steps.insert(1, RecipeStep(LANGUAGE, LanguageConfig()))
    return steps
