"""What remote workers need to run Winnow, added to the Beam options automatically.

`winnow curate --runner=DataflowRunner --project P --region R --temp_location gs://...`
must need nothing else: unless the user already chose how workers get the code
(a custom container, a setup file, extra packages), we stage this checkout's
`setup.py` and a requirements file with the `curate` extra's dependencies.
"""
from __future__ import annotations

import re
import tempfile
from importlib import metadata
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions, StandardOptions, WorkerOptions

REMOTE_RUNNERS = ("DataflowRunner", "dataflow")


def is_remote(beam_args: list[str]) -> bool:
    return PipelineOptions(list(beam_args)).view_as(StandardOptions).runner in REMOTE_RUNNERS


def curate_requirements() -> list[str]:
    """The `curate` extra's requirements of the installed winnow distribution, minus Beam itself."""
    try:
        requires = metadata.requires("winnow") or []
    except metadata.PackageNotFoundError:
        return []
    out = []
    for req in requires:
        spec, _, marker = req.partition(";")
        if re.search(r"extra\s*==\s*['\"]curate['\"]", marker) and not spec.strip().startswith("apache-beam"):
            out.append(spec.strip())
    return out


def worker_setup_args(beam_args: list[str]) -> list[str]:
    """Extra Beam args that ship Winnow to remote workers; empty for local runners."""
    if not is_remote(beam_args):
        return []
    options = PipelineOptions(list(beam_args))
    setup = options.view_as(SetupOptions)
    worker = options.view_as(WorkerOptions)
    if worker.sdk_container_image or setup.setup_file or setup.extra_packages:
        return []
    setup_file = Path(__file__).resolve().parents[1] / "setup.py"
    if not setup_file.is_file():
        raise RuntimeError(
            "cannot ship Winnow to Dataflow workers from this installation: pass --sdk_container_image "
            "(see docs/dataflow.md) or run from a source checkout"
        )
    requirements = Path(tempfile.mkdtemp(prefix="winnow-dataflow-")) / "requirements.txt"
    requirements.write_text("\n".join(curate_requirements()) + "\n", encoding="utf-8")
    return [f"--setup_file={setup_file}", f"--requirements_file={requirements}"]
