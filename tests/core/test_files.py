"""Atomic writes: all or nothing, and files readable as open() would make them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from neuronscope.core.files import atomic_path, atomic_write


def test_write_lands_whole_with_normal_permissions(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "a" / "b.txt", lambda f: f.write("hello"), mode="w")
    assert target.read_text() == "hello"
    reference = tmp_path / "plain.txt"
    reference.write_text("x")
    assert stat.S_IMODE(os.stat(target).st_mode) == stat.S_IMODE(os.stat(reference).st_mode)


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "c.bin"
    target.write_bytes(b"old")

    def fail(f: object) -> None:
        f.write(b"half")  # type: ignore[attr-defined]
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.bin"]  # no temporary file left
    with pytest.raises(ValueError, match="mode"):
        atomic_write(target, lambda f: None, mode="a")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
