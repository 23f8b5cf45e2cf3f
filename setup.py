"""Package discovery only; metadata lives in pyproject.toml.

The product layout keeps `curation/`, `pipelines/`, `training/`, `schemas/` and
`recipes/` at the top of the repository. They install under the `winnow`
namespace (`winnow.curation`, ...) so they never collide with other
distributions. Beam's `--setup_file` also uses this file for Dataflow workers.
"""
from setuptools import find_packages, setup

TOP_LEVEL = ("curation", "pipelines", "training", "schemas", "recipes")

packages = ["winnow"] + [f"winnow.{p}" for p in find_packages("winnow")]
package_dir = {"winnow": "winnow"}
for top in TOP_LEVEL:
    packages.append(f"winnow.{top}")
    packages.extend(f"winnow.{top}.{p}" for p in find_packages(top))
    package_dir[f"winnow.{top}"] = top

setup(packages=packages, package_dir=package_dir)
