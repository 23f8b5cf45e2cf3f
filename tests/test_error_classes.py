"""Every exception class Winnow defines is a WinnowError, so the CLI's one
`except WinnowError` gives each failure its documented exit status (2, 3 or 1)
and a one-line message instead of a traceback.

The classes are found by importing every module of the package, not from a
list kept by hand: a new `class FooError(ValueError)` anywhere fails here.
"""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import winnow
from winnow.core.errors import WinnowError

# Exceptions that are not WinnowErrors on purpose, each with why. The test also
# fails when one of them is gone or has become a WinnowError, so the list stays true.
NOT_WINNOW_ERRORS = {
    # Control flow, not a failure: a report section whose stage was not run;
    # winnow.report catches it and shows the section as "not run".
    "winnow.report.inputs:NotRun": "control flow inside the report",
    # A KeyboardInterrupt with a message: the CLI catches it apart from
    # WinnowError and exits 130 (winnow.interrupt.EXIT_INTERRUPTED).
    "winnow.interrupt:Interrupted": "Ctrl-C, exit 130",
}


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(winnow.__path__, "winnow."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running it is running the command
        names.append(info.name)
    return sorted(names)


def _defined_exceptions() -> dict[str, type]:
    found, broken = {}, []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - every module must import in the dev environment
            broken.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        for attr, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}:{value.__qualname__}"] = value
    assert not broken, "modules that do not import:\n" + "\n".join(broken)
    return found


@pytest.fixture(scope="module")
def defined() -> dict[str, type]:
    return _defined_exceptions()


def test_the_walk_finds_the_package_s_exceptions(defined):
    # A walk that imported nothing would pass the next test vacuously.
    for spec in ("winnow.curation.config:RecipeError", "winnow.training.trainer:TrainError",
                 "winnow.pipelines.outputs:OutputExists", "winnow.curation.extract_pool:ChildDied"):
        assert spec in defined, spec
    assert len(defined) > 40


def test_every_exception_the_package_defines_is_a_winnow_error(defined):
    outside = sorted(spec for spec, cls in defined.items() if not issubclass(cls, WinnowError) and spec not in NOT_WINNOW_ERRORS)
    assert outside == [], f"exception classes outside WinnowError (give each a consequence subclass): {outside}"


def test_the_allow_list_names_real_non_winnow_errors(defined):
    for spec in NOT_WINNOW_ERRORS:
        assert spec in defined, f"{spec}: no longer defined; drop it from NOT_WINNOW_ERRORS"
        assert not issubclass(defined[spec], WinnowError), f"{spec}: now a WinnowError; drop it from NOT_WINNOW_ERRORS"


def test_each_family_member_has_one_consequence_and_a_family_cannot_be_raised(defined):
    # An ErrorFamily (CheckpointError, TokenDirError, ...) groups one library's errors for callers
    # that catch them together; each member must be exactly one consequence, so the CLI's exit
    # status follows from the class, and the family itself is never raised (it would exit 1).
    from winnow.core.errors import ConfigurationError, ErrorFamily, InputError, RuntimeFailure

    consequences = (ConfigurationError, InputError, RuntimeFailure)
    families = {spec: cls for spec, cls in defined.items() if ErrorFamily in cls.__bases__}
    assert {"winnow.training.checkpoint:CheckpointError", "winnow.training.tokens:TokenDirError",
            "winnow.training.trainer:TrainError", "winnow.schemas.inputs:ParquetInputError"} <= set(families)
    for spec, family in families.items():
        with pytest.raises(TypeError, match="raise one of its subclasses"):
            family("message")
        members = [(s, c) for s, c in defined.items() if issubclass(c, family) and c is not family]
        assert members, f"{spec}: a family with no member to raise"
        for member_spec, member in members:
            kinds = [base for base in consequences if issubclass(member, base)]
            assert len(kinds) == 1, f"{member_spec}: one consequence expected, found {kinds}"
            assert member("message").exit_code == kinds[0].exit_code, member_spec
