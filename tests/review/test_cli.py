"""`winnow review` commands: clear errors for bad directories, busy ports, corrupt labels; import, export, summary."""
from __future__ import annotations

import json
import socket

import pytest

from tests.review.helpers import make_output
from winnow.cli import main
from winnow.review.labels import review_dir
from winnow.review.server import ServeError, bind, is_loopback, url_of, warn_if_exposed


def test_serve_refuses_a_directory_that_is_not_an_output(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    assert main(["review", "serve", str(tmp_path / "notes")]) == 2
    err = capsys.readouterr().err
    assert "not a Winnow output directory" in err and "documents/, rejected/ or duplicates/" in err
    assert main(["review", "serve", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_serve_reports_a_port_in_use(tmp_path, capsys):
    out = make_output(tmp_path / "out")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["review", "serve", str(out), "--port", str(port), "--sample", "5"]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use; choose another with --port" in err
    assert "Traceback" not in err


def test_serve_reports_a_corrupt_labels_file(tmp_path, capsys):
    out = make_output(tmp_path / "out")
    review_dir(out).mkdir()
    (review_dir(out) / "labels-ana-1.parquet").write_text("not parquet")
    assert main(["review", "serve", str(out), "--port", "0"]) == 3  # unusable input, not a wrong argument
    err = capsys.readouterr().err
    assert "labels-ana-1.parquet: corrupt labels file" in err and "move it aside" in err


def test_bind_and_warning(capsys):
    sock = bind("127.0.0.1", 0)
    try:
        assert url_of(sock, "127.0.0.1").startswith("http://127.0.0.1:")
        with pytest.raises(ServeError, match="already in use"):
            bind("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()
    with pytest.raises(ServeError, match="cannot resolve"):
        bind("no-such-host.invalid", 0)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    warn_if_exposed("127.0.0.1")
    assert capsys.readouterr().err == ""
    warn_if_exposed("0.0.0.0")
    assert "warning: listening on 0.0.0.0, not 127.0.0.1" in capsys.readouterr().err


def test_import_export_summary_commands(tmp_path, capsys):
    out = make_output(tmp_path / "out")
    assert main(["review", "summary", str(out)]) == 2
    assert "no labels or votes" in capsys.readouterr().err
    labels = tmp_path / "team.jsonl"
    rows = [{"id": f"kept-{i:03d}", "label": "good" if i < 6 else "bad", "reviewer": r}
            for i in range(8) for r in ("ana", "bo")]
    rows += [{"id": f"gopher-{i:03d}", "label": "bad"} for i in range(4)]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["review", "import", str(out), str(labels), "--reviewer", "team"]) == 0
    assert "imported 20 labels" in capsys.readouterr().out
    assert main(["review", "summary", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Filter agreement" in printed and "gopher_below_min_words" in printed and "kappa" in printed
    assert main(["review", "summary", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kappa"][0]["reviewers"] == ["ana", "bo"] and summary["kappa"][0]["kappa"] == 1.0
    assert main(["review", "export", str(out), "--output", str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_text().count("\n") == 21
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nkept-001,maybe\n")
    assert main(["review", "import", str(out), str(bad)]) == 3  # a malformed labels file: unusable input
    assert "bad.csv:2: label must be one of" in capsys.readouterr().err
    assert main(["review", "import", str(out), str(tmp_path / "absent.csv")]) == 2  # a path that names nothing
    assert "absent.csv: no such labels file" in capsys.readouterr().err
