"""The `winnow` command: subcommands, lazy imports, user errors."""
from __future__ import annotations

import subprocess
import sys

from winnow.cli import main


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 2
    text = capsys.readouterr().out
    for command in ("curate", "dedup", "sample-warc", "inspect", "recipes", "tokenizer", "tokenize", "train",
                    "evaluate", "generate", "export", "run", "ablate", "report"):
        assert command in text


def test_training_commands_do_not_import_beam():
    code = (
        "import sys\n"
        "from winnow.cli import main\n"
        "for argv in (['train', '--help'], ['evaluate', '--help'], ['run', '--help'], ['inspect', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'apache_beam' not in sys.modules, 'Beam was imported'\n"
        "assert 'torch' not in sys.modules, 'torch was imported for --help'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_recipes_list_and_show(capsys):
    assert main(["recipes"]) == 0
    listing = capsys.readouterr().out
    assert "fineweb" in listing and "c4" in listing and "gopher" in listing and "extract" in listing
    assert main(["recipes", "show", "fineweb"]) == 0
    assert "gopher_quality" in capsys.readouterr().out
    assert main(["recipes", "show", "nope"]) == 2


def test_curate_user_errors(tmp_path, capsys):
    assert main(["curate", "--input", str(tmp_path / "none-*.warc.gz"), "--output", str(tmp_path / "o")]) == 2
    assert "matches no file" in capsys.readouterr().err
    assert main(["curate", "--input", "x.warc.gz", "--output", str(tmp_path / "o"), "--recipe", "nope"]) == 2
    assert "unknown recipe" in capsys.readouterr().err


# --- unknown flags are errors; Beam's own options pass through -----------------------------

import pytest  # noqa: E402

from winnow.pipelines.options_cli import reject_unknown_beam_args  # noqa: E402


@pytest.mark.parametrize(
    "argv, named, suggested",
    [
        (["curate", "--input", "x.warc.gz", "--output", "o", "--recpie", "fineweb"], "--recpie", "--recipe"),
        (["curate", "--input", "x.warc.gz", "--output", "o", "--runnner=DataflowRunner", "--projet", "p"], "--runnner", "--runner"),
        (["dedup", "--input", "x", "--output", "o", "--threshhold", "0.5"], "--threshhold", "--threshold"),
        (["run", "--outptu", "o"], "--outptu", "--output"),
        (["inspect", "x.parquet", "--sampels", "3"], "--sampels", "--samples"),
        (["train", "--data", "d", "--output", "o", "--lr-rate", "0.1"], "--lr-rate", None),
    ],
)
def test_unknown_flags_are_errors_with_a_suggestion(argv, named, suggested, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"unknown option {named}" in err
    if suggested:
        assert f"did you mean {suggested}?" in err
    assert not (tmp_path / "o").exists()  # nothing ran


def test_curate_flags_are_not_dedup_flags(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["curate", "--input", "x.warc.gz", "--output", "o", "--ngram", "3"])
    assert exit.value.code == 2 and "unknown option --ngram" in capsys.readouterr().err


def test_beam_options_still_pass_through():
    dataflow = ["--runner=DataflowRunner", "--project", "p", "--region", "r", "--temp_location", "gs://x/tmp",
                "--sdk_location=container", "--dry_run=True", "--experiments=use_runner_v2", "--save_main_session"]
    direct = ["--direct_num_workers=2", "--direct_running_mode", "multi_processing"]
    dask = ["--dask_client_address", "tcp://h:8786", "--dask_npartitions=4"]
    for args in (dataflow, direct, dask):
        assert reject_unknown_beam_args(args) == args


def test_a_bad_beam_value_is_a_configuration_error():
    from winnow.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="direct_num_workers"):
        reject_unknown_beam_args(["--direct_num_workers=many"])
    with pytest.raises(ConfigurationError, match="unexpected argument 'stray'"):
        reject_unknown_beam_args(["stray"])


def test_curate_with_beam_options_reaches_the_command(tmp_path, capsys):
    # Beam's flags are accepted; the command then fails on its own check (no input file), exit 2.
    argv = ["curate", "--input", str(tmp_path / "none-*.warc.gz"), "--output", str(tmp_path / "o"),
            "--direct_num_workers=2", "--direct_running_mode=multi_threading"]
    assert main(argv) == 2
    assert "matches no file" in capsys.readouterr().err


def test_module_entry_points_reject_unknown_flags(tmp_path, capsys):
    from winnow.pipelines import run_curate
    from winnow.pipelines.dedup import launcher as dedup

    assert run_curate.main(["--input", "x.warc.gz", "--output", str(tmp_path / "o"), "--recpie", "c4"]) == 2
    assert "did you mean --recipe?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        dedup.main(["--input", "x", "--output", str(tmp_path / "o"), "--num_perm", "64"])
    assert exit.value.code == 2 and "did you mean --num-perm?" in capsys.readouterr().err


# --- one error base class, exit status by consequence ----------------------------------------


def test_every_user_facing_error_derives_from_winnow_error():
    import importlib

    from winnow.core.errors import ConfigurationError, InputError, RuntimeFailure, WinnowError

    expected = {
        ConfigurationError: ["winnow.curation.config:RecipeError", "winnow.training.config:ConfigError", "winnow.runner:RunError",
                             "winnow.select:SelectError", "winnow.mix:MixError", "winnow.pipelines.outputs:OutputExists",
                             "winnow.pipelines.run_curate:CurateInputError", "winnow.schemas.inputs:ParquetPathError",
                             "winnow.training.eval_run:EvaluateSectionError", "winnow.training.run_files:RunDirectoryError",
                             "winnow.pipelines.curate_resume:ResumeRefused", "winnow.review.app:ExposureError",
                             "winnow.review.server:ServeError", "winnow.training.checkpoint:CheckpointMissing",
                             "winnow.training.tokens:TokenDirConfigError", "winnow.training.trainer:TrainConfigError",
                             "winnow.training.data:TokenDataMissing", "winnow.inspect:InspectPathError",
                             "winnow.review.labels:LabelsConfigError", "winnow.review.source:ReviewDirError",
                             "winnow.curation.classifier.fasttext_backend:ClassifierConfigError"],
        InputError: ["winnow.schemas:SchemaMismatch", "winnow.training.shard_format:ShardFormatError",
                     "winnow.training.checkpoint:CheckpointUnusable", "winnow.training.data:TokenDataUnusable",
                     "winnow.inspect:InspectDataError", "winnow.summaries:StatsError", "winnow.review.labels:LabelsInputError",
                     "winnow.curation.classifier.fasttext_backend:ClassifierInputError", "winnow.training.blimp:BlimpError",
                     "winnow.schemas.inputs:ParquetDataError", "winnow.training.tokens:TokenDirInputError",
                     "winnow.review.source:ReviewDataError",
                     "winnow.curation.readers.metadata:MetadataError", "winnow.curation.readers.parquet_pages:PageHeaderError",
                     "winnow.curation.readers.common:TruncatedStream", "winnow.review.app:BadRequest"],
        RuntimeFailure: ["winnow.pipelines.dedup.common:DedupError", "winnow.pipelines.dedup.connected_components:ComponentsDidNotConverge",
                         "winnow.training.trainer:NonFiniteLossError", "winnow.runner:StageFailed",
                         "winnow.curation.classifier.fasttext_backend:ClassifierTrainingFailed",
                         "winnow.curation.extract_pool:ChildDied", "winnow.curation.extract_pool:ChildTimeout",
                         "winnow.curation.extract_pool:ChildOverCpu", "winnow.curation.extract_pool:ChildUnreachable"],
    }
    for base, names in expected.items():
        for spec in names:
            module, name = spec.split(":")
            cls = getattr(importlib.import_module(module), name)
            assert issubclass(cls, base) and issubclass(cls, WinnowError), spec
    assert (ConfigurationError.exit_code, InputError.exit_code, RuntimeFailure.exit_code) == (2, 3, 1)
    # Callers that catch the builtin still do: a truncated zstd stream is an EOFError like gzip's.
    from winnow.curation.readers.common import TruncatedStream

    assert issubclass(TruncatedStream, EOFError)


def test_the_cli_returns_the_error_s_exit_status(monkeypatch, capsys):
    from winnow.core.errors import InputError, RuntimeFailure

    import winnow.cli.tools as tools

    for error, code in ((InputError("archive.warc.gz: not a gzip file"), 3), (RuntimeFailure("accounting failed"), 1)):
        def fail(args, error=error):
            raise error

        monkeypatch.setattr(tools, "run_recipes", fail)
        assert main(["recipes"]) == code
        assert f"winnow recipes: error: {error}" in capsys.readouterr().err


# --- one configuration dialect: flags and the reference come from the dataclasses ------------


def test_recipe_reference_is_generated_and_current():
    from winnow.cli.docs import DOC_PATH, render

    assert DOC_PATH.read_text(encoding="utf-8") == render(), "docs/recipes.md is stale: run `make docs`"


def test_the_reference_names_every_key_of_every_section():
    import dataclasses

    from winnow.cli.docs import render
    from winnow.curation.recipe import step_config_types
    from winnow.sections import section_types
    from winnow.training.config import key_classes

    text = render()
    classes = [*section_types().values(), *step_config_types().values()]
    keys = {f.name for cls in classes for f in dataclasses.fields(cls)} | set(key_classes())
    missing = sorted(k for k in keys if f"| `{k}` |" not in text)
    assert not missing


def test_evaluate_keys_are_declared_once():  # eval_run derives its keys from EvaluateConfig
    import dataclasses

    from winnow.sections import EvaluateConfig
    from winnow.training.eval_run import EVALUATE_KEYS

    assert {f.name for f in dataclasses.fields(EvaluateConfig)} == set(EVALUATE_KEYS)


def test_train_and_dedup_flags_come_from_the_dataclasses():
    import argparse
    import dataclasses

    from winnow.cli.train import CONFIG_FLAGS
    from winnow.core.config_loader import field_help
    from winnow.curation.minhash import MinHashConfig
    from winnow.pipelines.dedup.flags import add_minhash_arguments
    from winnow.training.config import key_classes

    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    import winnow.cli.train as train_cli

    train_cli.register(subparsers)
    train = subparsers.choices["train"]
    for key in CONFIG_FLAGS:
        action = train._option_string_actions["--" + key.replace("_", "-")]
        field = {f.name: f for f in dataclasses.fields(key_classes()[key])}[key]
        assert action.dest == key and action.default is None and field_help(field) in action.help
    dedup = argparse.ArgumentParser()
    add_minhash_arguments(dedup)
    for field in dataclasses.fields(MinHashConfig):
        if field.name in ("ngram", "num_perm", "bands", "rows", "threshold", "verify_threshold", "max_rounds"):
            action = dedup._option_string_actions["--" + field.name.replace("_", "-")]
            assert field_help(field) in action.help
    args = dedup.parse_args(["--num-perm", "64", "--threshold", "0.7"])
    assert (args.num_perm, args.threshold) == (64, 0.7)


@pytest.mark.parametrize(
    "command, module, cls, names",
    [
        (["tokenizer", "train"], "winnow.training.config", "TokenizerConfig", "winnow.cli.tokens:TOKENIZER_FLAGS"),
        (["mix"], "winnow.curation.mix", "MixConfig", "winnow.cli.mix:MIX_FLAGS"),
        (["curate"], "winnow.curation.readers.common", "ReaderOptions", "winnow.pipelines.options_cli:READER_FLAGS"),
    ],
)
def test_tokenizer_mix_and_reader_flags_come_from_the_dataclasses(command, module, cls, names):
    """Each flag's name, type, choices and help are the field's; unset, it is None and the
    field's default applies. docs/recipes.md reads the same meanings (field_meanings)."""
    import argparse
    import dataclasses
    import importlib
    import typing

    from winnow.cli import build_parser
    from winnow.core.config_loader import field_meanings

    config = getattr(importlib.import_module(module), cls)
    flag_module, attr = names.split(":")
    names = getattr(importlib.import_module(flag_module), attr)
    parser = build_parser()
    for word in command:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
    fields = {f.name: f for f in dataclasses.fields(config)}
    meanings = field_meanings(config)
    hints = typing.get_type_hints(config)
    for name in names:
        action = parser._option_string_actions["--" + name.replace("_", "-")]
        assert action.dest == name and action.default is None, name
        assert meanings[name] and action.help.startswith(meanings[name]), name
        assert action.choices == fields[name].metadata.get("choices"), name
        if hints[name] is int:
            assert action.type is int, name
    assert set(names) <= set(fields)


def test_derived_reader_and_mix_flags_keep_their_behaviour(tmp_path):
    import argparse

    from winnow.cli import build_parser
    from winnow.core.config_loader import config_from_mapping, given_flags
    from winnow.curation.mix import MixConfig
    from winnow.cli.mix import MIX_FLAGS
    from winnow.cli.tokens import TOKENIZER_FLAGS
    from winnow.pipelines.run_curate import CurateInputError, reader_options_of
    from winnow.training.config import TokenizerConfig

    parser = build_parser()
    curate = ["curate", "--input", "a.jsonl", "--output", "o"]
    assert reader_options_of(parser.parse_args(curate)) == reader_options_of(argparse.Namespace())  # the defaults
    options = reader_options_of(parser.parse_args([*curate, "--text-column", "body", "--text-format", "lines",
                                                   "--source-name", "books", "--max-record-bytes", "100", "--drop-metadata"]))
    assert (options.text_column, options.text_format, options.source_name, options.max_record_bytes, options.metadata_columns) == (
        "body", "lines", "books", 100, ())
    with pytest.raises(CurateInputError, match="max_record_bytes must be positive"):
        reader_options_of(parser.parse_args([*curate, "--max-record-bytes", "0"]))
    with pytest.raises(SystemExit):
        parser.parse_args([*curate, "--text-format", "pages"])  # choices still checked by argparse

    args = parser.parse_args(["mix", "--source", "a=x", "--weights", "a=1", "--output", "o", "--by", "documents", "--rehydrate"])
    mix = config_from_mapping(MixConfig, {"weights": {"a": 1.0}, **given_flags(args, MIX_FLAGS)}, "command line")
    assert (mix.by, mix.rehydrate, mix.max_repeats, mix.seed, mix.strict) == ("documents", True, 4, 0, False)

    args = parser.parse_args(["tokenizer", "train", "--input", "d", "--output", "t.json", "--vocab-size", "300",
                              "--special-tokens", "<|endoftext|>", "<|pad|>"])
    tokenizer = config_from_mapping(TokenizerConfig, given_flags(args, TOKENIZER_FLAGS), "command line")
    assert (tokenizer.vocab_size, tokenizer.special_tokens, tokenizer.min_frequency) == (300, ("<|endoftext|>", "<|pad|>"), 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["tokenizer", "train", "--input", "d", "--output", "t.json"])  # --vocab-size is still required


def test_dedup_checks_the_whole_recipe(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dedup: {bands: 14}\ntrain: {max_step: 3}\n")
    argv = ["dedup", "--input", str(tmp_path), "--output", str(tmp_path / "out"), "--recipe", str(recipe)]
    assert main(argv) == 2
    assert "section train: unknown key(s) ['max_step'] (did you mean 'max_steps'?)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- one vocabulary; old spellings work for one release, with a deprecation message ---------


def _parse(argv):
    from winnow.cli import build_parser

    return build_parser().parse_args(argv)


@pytest.mark.parametrize(
    "argv, old, new, dest, value",
    [
        (["train", "--output", "o"], "--data", "--input", "data", "tok"),
        (["evaluate", "--run", "r"], "--data", "--input", "data", "tok"),
        (["evaluate", "--run", "r"], "--max-tokens", "--eval-tokens", "max_tokens", 64),
        (["sample-warc", "--output", "s.warc.gz"], "--force", "--overwrite", "force", True),
    ],
)
def test_old_spellings_still_work_and_say_what_replaced_them(argv, old, new, dest, value, capsys):
    tail = [] if value is True else [str(value)]
    assert str(getattr(_parse([*argv, old, *tail]), dest)) == str(value)
    assert f"{old} is deprecated and will be removed in winnow 0.3; use {new}" in capsys.readouterr().err
    assert str(getattr(_parse([*argv, new, *tail]), dest)) == str(value)
    assert capsys.readouterr().err == ""  # the new spelling is silent


def test_input_is_repeatable_and_takes_several():
    args = _parse(["tokenize", "--input", "a", "b", "--input", "c", "--tokenizer", "t.json", "--output", "o"])
    assert args.input == ["a", "b", "c"]
    args = _parse(["tokenizer", "train", "--input", "a", "--input", "b", "--vocab-size", "300", "--output", "t.json"])
    assert args.input == ["a", "b"]


def test_json_is_a_switch_in_evaluate_too(capsys):
    args = _parse(["evaluate", "--run", "r", "--text", "t.txt", "--json"])
    assert args.json is True and args.output is None
    args = _parse(["evaluate", "--run", "r", "--text", "t.txt", "--output", "res.json"])
    assert args.json is False and args.output == "res.json"
    assert capsys.readouterr().err == ""


def test_tokenize_flags_come_from_the_tokenize_section():
    import dataclasses
    import inspect

    from winnow.training.config import TokenizeConfig
    from winnow.training.tokens import tokenize_corpus

    args = _parse(["tokenize", "--input", "a", "--tokenizer", "t", "--output", "o", "--val-fraction", "0.2"])
    assert args.val_fraction == 0.2 and args.workers is None and args.shard_tokens is None
    defaults = inspect.signature(tokenize_corpus).parameters
    for f in dataclasses.fields(TokenizeConfig):
        assert f.default == defaults[f.name].default, f.name


@pytest.mark.parametrize(
    "items, message",
    [
        (["max_step=3"], "unknown key(s) ['max_step'] (did you mean 'max_steps'?)"),
        (["lr=fast"], "key 'lr' expects float, got 'fast'"),
        (["batch_size"], "--train expects KEY=VALUE"),
    ],
)
def test_train_overrides_are_checked_when_given(items, message):
    from winnow.training.config import ConfigError, train_overrides_from_flags

    with pytest.raises(ConfigError) as error:
        train_overrides_from_flags(items)
    assert message in str(error.value)
    assert train_overrides_from_flags(["lr=3e-3", "compile=true"]) == {"lr": 0.003, "compile": True}


def test_ablate_rejects_a_bad_train_override_before_anything_runs(tmp_path, capsys):
    text = tmp_path / "eval.txt"
    text.write_text("held out\n")
    argv = ["ablate", "--recipe", "extract", "--recipe", "fineweb", "--eval-text", str(text), "--blimp", "",
            "--train", "warmup_step=2", "--output", str(tmp_path / "out")]
    assert main(argv) == 2
    assert "did you mean 'warmup_steps'?" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ablate_checks_every_recipe_before_curating_any(tmp_path, capsys):
    text = tmp_path / "eval.txt"
    text.write_text("held out\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - extract: {}\ntokenize: {val_fractoin: 0.1}\n")
    argv = ["ablate", "--recipe", "extract", "--recipe", str(bad), "--eval-text", str(text), "--blimp", "",
            "--output", str(tmp_path / "out")]
    assert main(argv) == 2
    assert "section tokenize: unknown key(s) ['val_fractoin'] (did you mean 'val_fraction'?)" in capsys.readouterr().err
    assert not list((tmp_path / "out").rglob("stages"))  # the first recipe did not curate


def test_checking_a_recipe_for_curate_does_not_import_torch():
    """curate and dedup run where torch is absent (the Dataflow image): the whole-recipe
    check must not load it for a recipe without a model section."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from winnow.curation.recipe import load_recipe\n"
        "from winnow.sections import check_recipe\n"
        "check_recipe(load_recipe('fineweb'), stages=('curate',))\n"
        "check_recipe(load_recipe('fineweb'), stages=('dedup',))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
