"""The file helpers every layer uses: an atomic write leaves the old file or the whole new one (with
the permissions a plain ``open()`` would give, or the ones asked for) and never a temporary file, its
temporary file is hidden beside the target with the target's extension, digests match hashlib, and
the worker count follows the CPUs this process may use."""

from __future__ import annotations

import hashlib
import os
import re
import stat

import pytest

from vidkit.utils import atomic_path, atomic_write, atomic_write_text, cpu_count, default_workers, file_digest


@pytest.fixture
def umask():
    """Run the test under umask 027, so that "what open() gives" differs from mkstemp's 0600 and from 0644."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("the old results\n")
    with pytest.raises(RuntimeError, match="killed mid-write"):
        with atomic_write(target) as f:
            f.write("half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "the old results\n"
    assert os.listdir(tmp_path) == ["results.json"]


def test_an_error_in_atomic_path_removes_what_the_writer_made(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "clip.mp4") as tmp:
            tmp.write_bytes(b"part of a video")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_a_write_replaces_the_whole_file_with_open_s_permissions(tmp_path, umask):
    target = tmp_path / "scores.npz"
    target.write_bytes(b"x" * 1000)
    os.chmod(target, 0o600)
    with atomic_write(target, "wb") as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    plain = tmp_path / "plain"
    open(plain, "w").close()
    assert _mode(target) == _mode(plain) == 0o666 & ~umask == 0o640
    assert sorted(os.listdir(tmp_path)) == ["plain", "scores.npz"]


def test_an_explicit_mode_ignores_the_umask(tmp_path, umask):
    atomic_write_text(tmp_path / "manifest.json", "{}\n", mode=0o644)
    assert _mode(tmp_path / "manifest.json") == 0o644
    with atomic_write(tmp_path / "private.csv", "w", file_mode=0o600, newline="") as f:
        f.write("a,b\r\n")
    assert _mode(tmp_path / "private.csv") == 0o600
    assert (tmp_path / "private.csv").read_bytes() == b"a,b\r\n"  # open_kwargs reach open()


def test_the_temporary_is_hidden_beside_the_target_with_its_extension(tmp_path):
    target = tmp_path / "new folder" / "clip one.mp4"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent  # the folder was made; the rename stays on one file system
        assert re.fullmatch(r"\.clip one\.[a-z0-9_]{8}\.mp4", tmp.name)
        assert tmp.is_file() and not target.exists()
        tmp.write_bytes(b"video")
    assert target.read_bytes() == b"video" and os.listdir(target.parent) == ["clip one.mp4"]
    with atomic_write(target, "wb") as f:
        assert [n for n in os.listdir(target.parent) if n != "clip one.mp4"] == [os.path.basename(f.name)]
        assert os.path.basename(f.name).startswith(".clip one.") and f.name.endswith(".mp4")


def test_atomic_write_refuses_a_mode_that_does_not_write_a_new_file(tmp_path):
    with pytest.raises(ValueError, match="'a'"):
        with atomic_write(tmp_path / "log.txt", "a"):
            pass
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
def test_file_digest_matches_hashlib(tmp_path, algorithm):
    data = os.urandom(3 * (1 << 20) + 12345)  # several blocks, the last one partial
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_digest(path, algorithm) == hashlib.new(algorithm, data).hexdigest()
    assert file_digest(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "cpus, limit, reserve, workers",
    [(16, 8, 0, 8), (16, 8, 1, 8), (4, 8, 0, 4), (4, 8, 1, 3), (2, 8, 1, 1), (1, 8, 1, 1), (1, 8, 0, 1), (3, 2, 0, 2)],
)
def test_default_workers_follows_the_cpus_this_process_may_use(monkeypatch, cpus, limit, reserve, workers):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # the machine's: not what this process may use
    assert cpu_count() == cpus
    assert default_workers(limit, reserve=reserve) == workers


def test_cpu_count_without_an_affinity_mask(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert cpu_count() == 6 and default_workers(4) == 4
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown
    assert cpu_count() == 1 and default_workers(reserve=1) == 1
