"""Local runs never download a runner: the DirectRunner is pinned to Winnow's LocalRunner.

Since Beam 2.68 Beam's DirectRunner first tries Prism, which downloads a binary
from GitHub at run time. These tests take the network away (and make any Prism
start fail loudly) and check that a local curate still runs, and that the
runner arguments Winnow resolves name LocalRunner whenever the user named the
DirectRunner or no runner at all.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import urllib.request
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability import prism_runner
from apache_beam.runners.runner import create_runner

from winnow.demo.sample_warc import SampleSpec, write_sample_warc
from winnow.pipelines.options import LOCAL_RUNNER, LocalRunner, is_local_runner, pin_local_runner, with_local_defaults
from winnow.pipelines.run_curate import run_curate


def _runner(args: list[str]) -> str | None:
    return PipelineOptions(args).view_as(StandardOptions).runner


@pytest.mark.parametrize(
    "given",
    [[], ["--runner=DirectRunner"], ["--runner", "DirectRunner"], ["--runner=direct"], ["--runner=directrunner"],
     ["--runner=SwitchingDirectRunner"]],
)
def test_direct_runner_or_none_resolves_to_local_runner(given: list[str]) -> None:
    for args in (pin_local_runner(given), with_local_defaults(given), with_local_defaults(given, processes=True)):
        assert _runner(args) == LOCAL_RUNNER
        assert sum(a.startswith("--runner") for a in args) == 1 and "DirectRunner" not in args
        assert is_local_runner(args)
    assert isinstance(create_runner(LOCAL_RUNNER), LocalRunner)


def test_local_defaults_still_apply_to_the_pinned_runner() -> None:
    args = with_local_defaults(["--direct_num_workers=3"], processes=True)
    assert "--direct_running_mode=multi_processing" in args and "--direct_num_workers=3" in args


@pytest.mark.parametrize("runner", ["DataflowRunner", "FnApiRunner", "PrismRunner"])
def test_other_runners_are_left_alone(runner: str) -> None:
    assert pin_local_runner([f"--runner={runner}", "--x=1"]) == [f"--runner={runner}", "--x=1"]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every outside connection, URL fetch or Prism start is recorded and fails."""
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address):  # noqa: ANN001 - socket's own signature
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not _is_loopback(host):
            attempts.append(f"connect {address}")
            raise OSError("network disabled by the test")
        return real_connect(sock, address)

    def urlopen(url, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        attempts.append(f"urlopen {getattr(url, 'full_url', url)}")
        raise OSError("network disabled by the test")

    def urlretrieve(url, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        attempts.append(f"urlretrieve {url}")
        raise OSError("network disabled by the test")

    def prism(*args, **kwargs):  # noqa: ANN002, ANN003
        attempts.append("PrismRunner")
        raise RuntimeError("Prism must not be started")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(urllib.request, "urlretrieve", urlretrieve)
    monkeypatch.setattr(prism_runner, "urlopen", urlopen)  # imported by name there
    monkeypatch.setattr(prism_runner.PrismRunner, "__init__", prism)
    return attempts


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def test_the_guard_sees_what_beams_own_direct_runner_does(no_network: list[str]) -> None:
    # Beam 2.77's DirectRunner tries Prism for this pipeline: the guard must see it, or
    # the curate test below would prove nothing. (A Beam that stops doing so passes too.)
    with pytest.raises(Exception):  # noqa: B017 - urlopen or the Prism start, whichever comes first
        urllib.request.urlopen("https://github.com/apache/beam/releases")
    try:
        with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as pipeline:
            _ = pipeline | beam.Create([1, 2]) | beam.Map(lambda x: x)
    except RuntimeError as exc:
        assert "Prism" in str(exc)
    assert no_network[0].startswith("urlopen")


@pytest.mark.parametrize("beam_args", [[], ["--runner=DirectRunner"]], ids=["no-runner", "DirectRunner"])
def test_local_curate_without_network_never_downloads(tmp_path: Path, no_network: list[str], beam_args: list[str]) -> None:
    warc = tmp_path / "sample.warc.gz"
    labels = write_sample_warc(warc, SampleSpec(pages=8, seed=5))
    stats = run_curate([str(warc)], str(tmp_path / "out"), recipe="extract", beam_args=beam_args)
    assert no_network == []
    assert stats["accounting"]["ok"], stats["accounting"]
    assert stats["records_in"] == len(Path(labels).read_text().splitlines())
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["records_in"] == stats["records_in"]


@pytest.mark.parametrize(
    ("given", "local"),
    [([], True), (["--runner=DirectRunner"], True), (["--runner", "direct"], True), ([f"--runner={LOCAL_RUNNER}"], True),
     (["--runner=FnApiRunner"], True), (["--runner=DataflowRunner"], False), (["--runner", "PrismRunner"], False),
     (["--runner=winnow.pipelines.dask_runner.DaskRunner"], False), (["--runner=DataflowRunner", "--runner=direct"], True)],
)
def test_the_beam_free_runner_check_agrees_with_beam(given: list[str], local: bool) -> None:
    """`winnow curate` starts the extraction fork server before importing Beam when the run is
    local; that check reads --runner without Beam and must agree with Beam's own reading."""
    from winnow.pipelines.options_cli import runs_in_this_process

    assert runs_in_this_process(given) is local
    beam_runner = _runner(pin_local_runner(given))
    assert (beam_runner in (LOCAL_RUNNER, "FnApiRunner")) is local
