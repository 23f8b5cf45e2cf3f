"""The layering of the house, checked over the real imports.

Every `.py` file of the distribution is parsed (nothing is imported), with the
`winnow/<pkg>` links read as the real top-level folders, and each `import` and
`from ... import` (relative ones resolved, ones inside functions included) is
an arrow from the importing module to the imported one. The rules, as in
docs/architecture.md ("Import rules"):

- **The foot** is the package `core/` (`winnow.core`: atomic writes, JSON Lines,
  the error base class, the configuration loader, the version; `winnow/__init__.py`
  only re-exports the version from it). It imports the standard library and
  itself only. Every library may import it.
- **`schemas/`** imports the foot and third-party libraries only.
- **`curation/` and `training/`** stand side by side over `schemas/` and the
  foot: from Winnow they import only their own package, `winnow.schemas` and
  the foot; never `apache_beam`, never `pipelines`, `review`, `report` or the
  CLI, and never each other.
- **`curation/` never imports torch at module level**: a model backend that
  needs it (the Hugging Face classifier) imports it inside the function that
  loads the model, so the rest of curation runs without torch installed.
- **`pipelines/`** never imports `training/`; from Winnow it imports only
  itself, `curation`, `schemas`, the foot and the small shared modules at the
  top of `winnow/` that stand on that same ground (they import nothing of
  Winnow's but the foot, `schemas` and `curation`: `winnow.summaries`,
  `winnow.progress`, ...), never the CLI, the runner, review or the report.
- **`review` and `report`** do not import each other in a circle: the report
  reads review labels (`winnow.report.review`), review never imports the report.
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINKED = ("core", "curation", "pipelines", "training", "schemas", "recipes")
FOOT_PACKAGE = "winnow.core"  # the folder core/, behind the winnow/core link
APP_PACKAGES = ("winnow.pipelines", "winnow.review", "winnow.report", "winnow.cli")
PIPELINES_MAY_IMPORT = ("winnow.pipelines", "winnow.curation", "winnow.schemas")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[0] in LINKED:  # the real folder behind the winnow/<pkg> link
        parts.insert(0, "winnow")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_files() -> list[Path]:
    folders = [REPO / "winnow", *(REPO / name for name in LINKED)]
    files = []
    for folder in folders:
        for path in folder.rglob("*.py"):
            relative = path.relative_to(REPO).parts
            if relative[0] == "winnow" and relative[1] in LINKED:
                continue  # the same file as the top-level one; counted once, there
            files.append(path)
    return sorted(files)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, top_level: bool = True) -> Iterator[tuple[str, bool]]:
    """(imported module, whether the import runs when the module is imported)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _imports(node, module, is_package, top_level=False)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            yield from _imports(node, module, is_package, top_level=False)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, top_level) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, top_level
            # `from winnow import schemas` imports the submodule winnow.schemas
            # (`from winnow import __version__` would be an attribute, not a module).
            yield from (
                (f"{target}.{alias.name}", top_level)
                for alias in node.names
                if target == "winnow" and not alias.name.startswith("__")
            )
        else:
            yield from _imports(node, module, is_package, top_level)


def _edges() -> list[tuple[str, str, bool, str]]:
    edges = []
    for path in _source_files():
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, top_level in _imports(tree, module, path.name == "__init__.py"):
            edges.append((module, target, top_level, str(path.relative_to(REPO))))
    return edges


EDGES = _edges()


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _is_winnow_module(name: str) -> bool:
    return _within(name, "winnow")


def _foot_module(name: str) -> bool:
    # `winnow` itself: its __init__ only re-exports the version from the foot.
    return name == "winnow" or _within(name, FOOT_PACKAGE)


def _violations(source_package: str, allowed) -> list[str]:
    return sorted(
        f"{path}: {module} imports {target}"
        for module, target, _, path in EDGES
        if _within(module, source_package) and not allowed(target)
    )


def test_the_parse_sees_the_house():
    modules = {module for module, *_ in EDGES}
    for package in ("winnow.curation", "winnow.training", "winnow.pipelines", "winnow.schemas", "winnow.cli", "winnow.review", "winnow.report"):
        assert any(_within(m, package) for m in modules), f"no module of {package} parsed"
    # A known arrow, so a parser that saw nothing cannot pass the rules below.
    assert any(m == "winnow.pipelines.curate" and _within(t, "winnow.curation") for m, t, *_ in EDGES)


def test_the_foot_imports_only_the_standard_library_and_the_foot():
    stdlib = sys.stdlib_module_names | {"__future__"}
    bad = sorted(
        f"{path}: {module} imports {target}"
        for module, target, _, path in EDGES
        if _foot_module(module) and not (_foot_module(target) or target.split(".")[0] in stdlib)
    )
    assert not bad, "\n".join(bad)


def test_schemas_stand_on_the_foot_only():
    bad = _violations("winnow.schemas", lambda t: not _is_winnow_module(t) or _within(t, "winnow.schemas") or _foot_module(t))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package, sibling", [("winnow.curation", "winnow.training"), ("winnow.training", "winnow.curation")])
def test_libraries_import_only_themselves_schemas_and_the_foot(package: str, sibling: str):
    def allowed(target: str) -> bool:
        if _within(target, "apache_beam"):
            return False
        if not _is_winnow_module(target):
            return True
        return _within(target, package) or _within(target, "winnow.schemas") or _foot_module(target)

    bad = _violations(package, allowed)
    assert not bad, "\n".join(bad)
    # The named "never" rules, stated on their own so a failure reads as the rule it breaks.
    assert not _violations(package, lambda t: not _within(t, sibling))
    for app in APP_PACKAGES:
        assert not _violations(package, lambda t, app=app: not _within(t, app))


def test_curation_never_imports_torch_at_module_level():
    bad = sorted(
        f"{path}: {module} imports {target} at module level"
        for module, target, top_level, path in EDGES
        if _within(module, "winnow.curation") and top_level and target.split(".")[0] in {"torch", "transformers"}
    )
    assert not bad, "\n".join(bad)


def test_pipelines_never_import_training():
    bad = _violations("winnow.pipelines", lambda t: not _within(t, "winnow.training"))
    assert not bad, "\n".join(bad)


def _shared_modules_below_pipelines() -> set[str]:
    """Top-level `winnow/<name>.py` modules that import nothing of Winnow's but the foot,
    `schemas` and `curation` (e.g. winnow.summaries): pipelines may use them."""
    below = ("winnow.curation", "winnow.schemas")
    top = {f"winnow.{p.stem}" for p in (REPO / "winnow").glob("*.py") if p.stem != "__init__"}
    return {
        module for module in top
        if all(
            not _is_winnow_module(t) or _foot_module(t) or any(_within(t, b) for b in below)
            for m, t, *_ in EDGES if m == module
        )
    }


def test_pipelines_import_only_curation_schemas_and_the_foot():
    shared = _shared_modules_below_pipelines()
    assert "winnow.summaries" in shared and "winnow.runner" not in shared

    def allowed(target: str) -> bool:
        return (
            not _is_winnow_module(target) or _foot_module(target) or target in shared
            or any(_within(target, p) for p in PIPELINES_MAY_IMPORT)
        )

    bad = _violations("winnow.pipelines", allowed)
    assert not bad, "\n".join(bad)


def test_review_never_imports_the_report():
    bad = _violations("winnow.review", lambda t: not _within(t, "winnow.report"))
    assert not bad, "\n".join(bad)
