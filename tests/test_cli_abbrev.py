"""Flags are taken only as spelled: argparse would otherwise read a prefix (`--max-step`) as the
one flag it abbreviates (`--max-steps`), so a typo runs with a setting the user never named."""
from __future__ import annotations

import argparse

import pytest

from winnow.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser, path: str = "winnow"):
    yield path, parser
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for name, sub in getattr(action, "choices", {}).items():
            yield from _parsers(sub, f"{path} {name}")


def test_every_parser_refuses_abbreviations():
    parsers = dict(_parsers(build_parser()))
    assert {"winnow train", "winnow review serve", "winnow tokenize merge", "winnow ablate calibrate"} <= set(parsers)
    assert [path for path, p in parsers.items() if p.allow_abbrev] == []


@pytest.mark.parametrize(
    "argv, named, suggested",
    [
        (["train", "--input", "t", "--output", "o", "--max-step", "3"], "--max-step", "--max-steps"),
        (["mix", "--source", "a=x", "--weights", "a=1", "--output", "o", "--stric"], "--stric", "--strict"),
        (["review", "serve", "d", "--allow-h", "example.org"], "--allow-h", "--allow-host"),
        (["curate", "--input", "x.jsonl", "--output", "o", "--keep-col", "a"], "--keep-col", "--keep-columns"),
    ],
)
def test_an_abbreviated_flag_is_an_error_suggesting_the_full_one(argv, named, suggested, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"unknown option {named}" in err and f"did you mean {suggested}?" in err
    assert not (tmp_path / "o").exists()  # nothing ran


def test_full_spellings_and_equals_forms_still_parse():
    args, extra = build_parser().parse_known_args(["train", "--input", "t", "--output", "o", "--max-steps=3"])
    assert (args.max_steps, extra) == (3, [])
