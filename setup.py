"""Package discovery only; metadata lives in pyproject.toml.

`curation/`, `pipelines/`, `training/`, `schemas/` and `recipes/` live at the
top of the repository and are imported as `winnow.curation`, ... through the
relative symlinks `winnow/curation -> ../curation` (and so on). So the import
path is also a path on disk: type checkers, IDEs and import-graph tools follow
`winnow.curation.types` to `winnow/curation/types.py` with no configuration,
and setuptools needs no `package_dir` mapping. Discovery follows the links:
wheels and sdists (Beam's `--setup_file` builds one for Dataflow workers) hold
each module once, as a real file under `winnow/`. See docs/architecture.md.
"""
from setuptools import find_namespace_packages, setup

# The link targets; listed so a missing or broken link fails the build loudly
# instead of silently shipping a wheel without that package.
LINKED = ("core", "curation", "pipelines", "training", "schemas", "recipes")

# Namespace discovery so the data folders (curation/resources, review/static) count as
# packages too: with plain find_packages, setuptools warns on every install that they
# "would be ignored" (they ship either way, through package-data).
packages = find_namespace_packages(include=["winnow", "winnow.*"], exclude=["*.__pycache__"])
missing = [name for name in LINKED if f"winnow.{name}" not in packages]
if missing:
    raise SystemExit(
        f"setup.py: winnow/{missing[0]} is missing or not a link to ../{missing[0]} "
        f"(missing: {', '.join(missing)}); on Windows enable git symlinks (core.symlinks=true) and check out again"
    )

setup(packages=packages)
