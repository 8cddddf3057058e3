"""Atomic writes: whole file or the old one, a normal file mode, no temp files left."""

import os
import stat

import pytest

from graphkit.files import atomic_write_bytes, atomic_write_text


def test_writes_whole_file_with_the_umask_mode(tmp_path):
    path = tmp_path / "sub" / "graph.pb"
    old_umask = os.umask(0o022)
    try:
        atomic_write_bytes(str(path), b"\x00\x01data")
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"\x00\x01data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(path.parent) == ["graph.pb"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "trace.json"
    atomic_write_text(str(path), "old")

    class Unwritable:
        def __len__(self):
            return 1

    with pytest.raises(TypeError):
        atomic_write_bytes(str(path), Unwritable())
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["trace.json"]
