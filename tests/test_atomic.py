"""winnow.core.atomic: whole-file replacement, no partial files, no stray temporaries."""
from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from winnow.core.atomic import (
    TMP_MARKER,
    atomic_copy,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    temporary_name,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TMP_MARKER in p.name)


def test_writers_replace_the_whole_file(tmp_path: Path):
    target = tmp_path / "out.json"
    target.write_text("old content that is longer than the new one", encoding="utf-8")
    atomic_write_json(target, {"b": 1, "a": [1.5, None]})
    assert target.read_text(encoding="utf-8") == '{\n  "b": 1,\n  "a": [\n    1.5,\n    null\n  ]\n}\n'
    atomic_write_text(tmp_path / "t.txt", "héllo\nwörld")
    assert (tmp_path / "t.txt").read_bytes() == "héllo\nwörld".encode()
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == []


def test_json_options_match_json_dumps(tmp_path: Path):
    obj = {"z": 1, "a": float("nan"), "when": Path("x")}
    atomic_write_json(tmp_path / "s.json", obj, sort_keys=True, default=str, indent=None)
    assert (tmp_path / "s.json").read_text() == json.dumps(obj, sort_keys=True, default=str) + "\n"
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "strict.json", {"a": float("nan")}, allow_nan=False)
    assert not (tmp_path / "strict.json").exists() and _leftovers(tmp_path) == []


def test_unserialisable_object_leaves_the_old_file(tmp_path: Path):
    target = tmp_path / "stats.json"
    atomic_write_json(target, {"ok": True})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": True}
    assert _leftovers(tmp_path) == []


def test_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_open(target, "wb") as f:
            f.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"previous"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


def test_atomic_path_serves_writers_that_take_a_path(tmp_path: Path):
    target = tmp_path / "tokenizer.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".tokenizer.json.tmp-")
        assert not target.exists()  # nothing visible until the block succeeds
        tmp.write_text('{"model": {}}', encoding="utf-8")
    assert target.read_text(encoding="utf-8") == '{"model": {}}'
    assert _leftovers(tmp_path) == []


def test_text_mode_and_bad_mode(tmp_path: Path):
    with atomic_open(tmp_path / "a.csv", "w") as f:
        f.write("a,b\r\n1,2\n")
    assert (tmp_path / "a.csv").read_bytes() == b"a,b\r\n1,2\n"  # newlines as written
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_open(tmp_path / "x", "ab"):
            pass
    assert not (tmp_path / "x").exists()


def test_permissions_follow_the_umask_like_a_plain_write(tmp_path: Path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o640


def test_copy(tmp_path: Path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1000))
    atomic_copy(src, tmp_path / "dst.bin")
    assert (tmp_path / "dst.bin").read_bytes() == src.read_bytes()
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "absent.bin", tmp_path / "dst.bin")
    assert (tmp_path / "dst.bin").read_bytes() == src.read_bytes()
    assert _leftovers(tmp_path) == []


def test_missing_folder_is_an_error_not_a_mkdir(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "no" / "such" / "f.txt", "x")


def test_concurrent_writers_never_expose_a_mix(tmp_path: Path):
    target = tmp_path / "shared.json"
    payloads = [{"writer": i, "data": [i] * 2000} for i in range(8)]
    seen: list[object] = []
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            if target.exists():
                seen.append(json.loads(target.read_text()))

    reader = threading.Thread(target=read_loop)
    reader.start()
    writers = [threading.Thread(target=atomic_write_json, args=(target, p), kwargs={"fsync": False}) for p in payloads]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert json.loads(target.read_text()) in payloads
    assert all(s in payloads for s in seen)
    assert _leftovers(tmp_path) == []


def test_temporary_names_are_unique_and_hidden(tmp_path: Path):
    names = {temporary_name(tmp_path / "m.json").name for _ in range(50)}
    assert len(names) == 50 and all(n.startswith(".m.json" + TMP_MARKER) for n in names)
