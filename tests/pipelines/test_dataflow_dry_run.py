"""Each pipeline translates into a Dataflow job offline, gs:// paths included.

`--dry_run=True` makes the Dataflow runner build the job without submitting
it; no credentials are needed. Beam validates names offline, so the project,
region and bucket must look real.
"""
from __future__ import annotations

import pytest

DATAFLOW_ARGS = [
    "--runner=DataflowRunner",
    "--dry_run=True",
    "--project=winnow-test",
    "--region=us-central1",
    "--temp_location=gs://winnow-bucket/tmp",
    "--sdk_location=container",
]


def test_curate_translates_for_dataflow():
    pytest.importorskip("apache_beam.runners.dataflow", reason="apache-beam[gcp] is not installed")
    from winnow.pipelines.run_curate import run_curate

    stats = run_curate(
        inputs=["gs://winnow-bucket/crawl/*.warc.gz"],
        output="gs://winnow-bucket/curated/run1",
        recipe="fineweb",
        beam_args=DATAFLOW_ARGS,
    )
    assert stats is None  # translated, not run


def test_dataflow_gets_worker_setup_without_extra_flags():
    from winnow.pipelines.dataflow import curate_requirements, worker_setup_args

    args = worker_setup_args(DATAFLOW_ARGS)
    assert any(a.startswith("--setup_file=") for a in args)
    requirements = next(a for a in args if a.startswith("--requirements_file=")).split("=", 1)[1]
    text = open(requirements).read()
    assert "trafilatura" in text and "torch" not in text
    assert curate_requirements()
    assert worker_setup_args(DATAFLOW_ARGS + ["--sdk_container_image=gcr.io/x/y:1"]) == []
    assert worker_setup_args(["--runner=DirectRunner"]) == []
