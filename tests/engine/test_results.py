"""The tag results file (vidkit.engine.results): records, resume and repair."""

import base64
import csv
import errno
import io
import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from vidkit.engine.results import CSV_FIELDS, OutputLock, ResultsFile, check_output, may_pass, tag_record
from vidkit.engine.tagger import TagResult
from vidkit.errors import VidkitError

CLASSES = ["walk", "run", "jump"]


# -- records: odd names, retries, CSV repair


def _record(path, error=None):
    if error:
        return tag_record(TagResult(path=path, error=error), CLASSES, 2)
    return tag_record(TagResult(path=path, scores=torch.tensor([0.5, 0.3, 0.2]), clips=1), CLASSES, 2)


def _write(out, fmt, records):
    results = ResultsFile(out, fmt)
    for record in records:
        results.write(record)
    results.close()


def _open(out, fmt, inputs=()):
    results = ResultsFile(out, fmt, inputs=set(inputs))
    return results


def _rows(out):
    return list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_name_that_is_not_utf8_is_recorded_and_resumed(tmp_path, fmt):
    raw = os.fsencode(tmp_path) + b"/clip-\xff.mp4"
    path = os.fsdecode(raw)  # what find_videos gives: the 0xff byte as a surrogate escape
    out = tmp_path / f"tags.{fmt}"
    _write(out, fmt, [_record(path), _record(path + ".gone", error=f"a dangling link (to {path})")])
    shown, b64 = os.fsdecode(os.fsencode(tmp_path)) + "/clip-\ufffd.mp4", base64.b64encode(raw).decode()
    if fmt == "jsonl":
        records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert records[0]["path"] == shown and records[0]["path_b64"] == b64
        assert list(records[0])[:2] == ["path", "path_b64"]
        assert records[1]["error"] == f"a dangling link (to {shown})"  # a message quoting the name too
    else:
        rows = _rows(out)
        assert rows[0]["path"] == shown and json.loads(rows[0]["video"]) == {"path_b64": b64}
        assert rows[1]["path"] == shown + ".gone"
    results = _open(out, fmt)
    assert results.done == {path, path + ".gone"}  # resume matches the exact name
    results.close()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_ordinary_name_has_no_path_b64(tmp_path, fmt):
    out = tmp_path / f"tags.{fmt}"
    _write(out, fmt, [_record("/v/été.mp4")])
    assert "path_b64" not in out.read_text(encoding="utf-8")


RETRIED = [
    "the decoder crashed (killed by SIGSEGV)",
    "the decoder crashed (exit code 1)",
    "the decoder hung (no progress for 5 s); its worker was killed",
    "timed out opening it (no data within 0 s)",
    "timed out reading after 0.40 s",
    "decoding stalled: no frame for 1 s after 0.40 s",
    "unexpected error while decoding (float floor division by zero)",
    "no clips could be read",
]
FINAL = ["empty file", "no video stream (audio only)", "a dangling link (to /gone.mp4)", "not a video file"]


def test_which_failures_may_pass():
    assert all(may_pass(reason) for reason in RETRIED)
    assert not any(may_pass(reason) for reason in [*FINAL, None, ""])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_failures_that_may_pass_are_retried_and_their_records_replaced(tmp_path, fmt):
    out = tmp_path / f"tags.{fmt}"
    final = [_record("/v/ok.mp4")] + [_record(f"/v/final{i}.mp4", error=e) for i, e in enumerate(FINAL)]
    retried = [_record(f"/v/again{i}.mp4", error=e) for i, e in enumerate(RETRIED)]
    _write(out, fmt, [final[0], retried[0], *final[1:], *retried[1:], retried[0]])  # one twice, as a rerun once did
    kept = tmp_path / f"kept.{fmt}"
    _write(kept, fmt, final)  # what the file must hold after: byte for byte
    os.chmod(out, 0o640)
    inode = out.stat().st_ino

    everything = [r["path"] for r in final + retried]
    results = _open(out, fmt, everything)
    assert results.done == {r["path"] for r in final}
    assert out.read_bytes() == kept.read_bytes() and out.stat().st_ino != inode  # renamed over it
    assert out.stat().st_mode & 0o777 == 0o640
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")] or all(
        p.endswith(".lock") for p in os.listdir(tmp_path) if p.startswith(".")
    )  # no temporary file left
    for r in retried:
        results.write(_record(r["path"]))
    results.close()
    results = _open(out, fmt, everything)
    assert results.done == {r["path"] for r in final + retried}
    results.close()
    paths = (
        [r["path"] for r in _rows(out)]
        if fmt == "csv"
        else [json.loads(line)["path"] for line in out.read_text().splitlines()]
    )
    assert sorted(paths) == sorted(r["path"] for r in final + retried)  # one record per input


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_failures_of_paths_outside_the_run_are_kept(tmp_path, fmt):
    # another shard's, or another folder's, records: this run will not make them again
    out = tmp_path / f"tags.{fmt}"
    _write(out, fmt, [_record("/other/crashed.mp4", error=RETRIED[0]), _record("/mine/crashed.mp4", error=RETRIED[0])])
    results = _open(out, fmt, ["/mine/crashed.mp4", "/mine/new.mp4"])
    assert results.done == {"/other/crashed.mp4"}
    results.close()
    assert RETRIED[0] in out.read_text() and "/other/crashed.mp4" in out.read_text()
    assert "/mine/crashed.mp4" not in out.read_text()


def test_a_symlinked_output_stays_a_link_to_the_one_file_written(tmp_path):
    real = tmp_path / "store" / "real.jsonl"
    real.parent.mkdir()
    _write(real, "jsonl", [_record("/v/ok.mp4"), _record("/v/crashed.mp4", error=RETRIED[0])])
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    results = _open(link, "jsonl", ["/v/ok.mp4", "/v/crashed.mp4"])  # the retry rewrites the file
    results.write(_record("/v/crashed.mp4"))
    results.close()
    assert link.is_symlink() and os.path.realpath(link) == str(real)
    assert [json.loads(line)["path"] for line in real.read_text().splitlines()] == ["/v/ok.mp4", "/v/crashed.mp4"]
    assert json.loads(real.read_text().splitlines()[1])["error"] is None


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_resume_with_nothing_to_retry_leaves_the_file_alone(tmp_path, fmt):
    out = tmp_path / f"tags.{fmt}"
    _write(out, fmt, [_record("/v/ok.mp4"), _record("/v/empty.mp4", error="empty file")])
    before, inode = out.read_bytes(), out.stat().st_ino
    results = _open(out, fmt)
    results.close()
    assert out.read_bytes() == before and out.stat().st_ino == inode


def test_csv_torn_record_whose_path_holds_a_newline(tmp_path):
    names = ["/v/a.mp4", "/v/new\nline.mp4", "/v/car\rriage.mp4", "/v/z.mp4"]
    whole = tmp_path / "whole.csv"
    _write(whole, "csv", [_record(name) for name in names])
    data = whole.read_bytes()
    assert [r["path"] for r in _rows(whole)] == names
    second = data.index(b'"/v/new')
    third = data.index(b'"/v/car')
    out = tmp_path / "tags.csv"
    for cut in range(second + 1, third):  # a kill anywhere in the second record, newline included
        out.write_bytes(data[:cut])
        results = _open(out, "csv")
        assert results.done == {"/v/a.mp4"}, data[second:cut]
        for name in names[1:]:
            results.write(_record(name))
        results.close()
        assert out.read_bytes() == data, data[second:cut]  # no garbage row, now or on the next rerun


# -- opening the output: recognised, locked, special paths


def _plain(path: str, error: str | None = None) -> dict:
    return {"path": path, "labels": [], "duration_s": None, "video": None, "error": error, "clips": 0}


def _checkpoint(path: Path) -> Path:
    torch.save({"model": torch.nn.Linear(3, 4).state_dict(), "epoch": 3}, path)
    return path


HEADER = ",".join(CSV_FIELDS) + "\n"
NOT_OURS = {
    "checkpoint": ("jsonl", None),  # made by _checkpoint: a zip archive
    "binary with newlines": ("jsonl", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + b"\ntail"),
    "csv of other data": ("csv", b"name,size\na.mp4,10\nb.mp4,20"),  # last line unterminated: was cut
    "csv with a header not vidkit's": ("csv", b"path,label\nx.mp4,run\n"),
    "text": ("jsonl", b"shopping list\neggs\nmilk"),
    "text of one line": ("jsonl", b"hello"),
    "json lines of other data": ("jsonl", b'{"name": "a"}\n{"name": "b"}\n'),
    "records then text": ("jsonl", b'{"path": "a.mp4", "error": null}\nnotes\n{"path": "b.mp4"'),
    "jsonl given as csv": ("csv", b'{"path": "a.mp4", "error": null}\n'),
}


@pytest.mark.parametrize("kind", NOT_OURS)
def test_an_existing_file_that_is_not_a_tag_output_is_refused_and_left_unchanged(kind, tmp_path):
    fmt, data = NOT_OURS[kind]
    out = tmp_path / f"out.{fmt}"
    if data is None:
        _checkpoint(out)
    else:
        out.write_bytes(data)
    before = out.read_bytes()
    with pytest.raises(VidkitError) as raised:
        ResultsFile(out, fmt)
    message = str(raised.value)
    assert message.startswith(f"{out}:") and message.endswith("; left unchanged, use another --out")
    assert ": not a vidkit tag record;" in message or ":1: not the header of a vidkit tag CSV;" in message
    assert "\n" not in message
    assert out.read_bytes() == before  # byte for byte: no line cut off, nothing appended
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no lock file left behind
    if data is None:
        torch.load(out, weights_only=True)  # the checkpoint still loads


@pytest.mark.parametrize(
    "fmt, data, after",
    [
        ("jsonl", b"", b""),
        ("jsonl", b'{"path": "a.mp4"}\n\n{"path": "b.mp4", "error": "x"}\n', None),
        ("jsonl", b'{"path": "a.mp4"}\n{"path": "/half/wr', b'{"path": "a.mp4"}\n'),  # cut by a kill
        ("jsonl", b'{"path_b64": "YQ==", "path": "a"}\n', None),
        ("csv", b"", HEADER.encode()),
        ("csv", HEADER.encode(), None),
        ("csv", HEADER.encode()[:9], HEADER.encode()),  # the header itself cut by a kill
    ],
)
def test_vidkits_own_outputs_are_opened(fmt, data, after, tmp_path):
    out = tmp_path / f"out.{fmt}"
    out.write_bytes(data)
    check_output(out, fmt)
    ResultsFile(out, fmt).close()
    assert out.read_bytes() == (data if after is None else after)


def test_a_second_writer_is_refused_naming_the_process_that_holds_the_output(tmp_path):
    out = tmp_path / "tags.jsonl"
    first = ResultsFile(out, "jsonl")
    first.write(_plain("a.mp4"))
    before = out.read_bytes()
    with pytest.raises(VidkitError) as raised:
        ResultsFile(out, "jsonl")
    assert str(raised.value) == (
        f"{out}: another vidkit tag (pid {os.getpid()}) is writing it; wait for it to end, or use another --out"
    )
    assert out.read_bytes() == before
    first.close()
    assert not (tmp_path / ".tags.jsonl.lock").exists()  # released, and the lock file removed
    second = ResultsFile(out, "jsonl")  # free again
    assert second.done == {"a.mp4"}
    second.close()


def test_a_killed_run_does_not_leave_its_lock_to_its_decoding_workers(tmp_path):
    out = tmp_path / "tags.jsonl"
    read, write = os.pipe()
    run = os.fork()
    if run == 0:  # the run: opens the output, forks a worker, and is killed (nothing released)
        try:
            ResultsFile(out, "jsonl")
            worker = os.fork()
            if worker == 0:
                time.sleep(60)
                os._exit(0)
            os.write(write, str(worker).encode())
        finally:
            os._exit(0)
    os.close(write)
    worker = int(os.read(read, 32) or 0)
    os.close(read)
    os.waitpid(run, 0)
    try:
        assert worker
        ResultsFile(out, "jsonl").close()  # the worker, still alive, does not hold the lock
    finally:
        if worker:
            os.kill(worker, signal.SIGKILL)


@pytest.mark.parametrize("special", ["/dev/null", "/dev/zero", "folder", "fifo"])
def test_an_output_that_is_not_a_regular_file_is_refused(special, tmp_path):
    if special == "folder":
        out = tmp_path / "out.jsonl"
        out.mkdir()
    elif special == "fifo":
        out = tmp_path / "out.jsonl"
        os.mkfifo(out)
    else:
        out = Path(special)
    with pytest.raises(VidkitError, match=r"not a regular file \(a (character device|folder|pipe)\)"):
        ResultsFile(out, "jsonl")


class _FillsUp(io.FileIO):
    """A file on a disk with ``room`` bytes left: a write past it is cut short, the next fails."""

    def __init__(self, path, room):
        super().__init__(path, "a")
        self.room = room

    def write(self, data):
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(data), self.room)
        self.room -= n
        return super().write(bytes(data[:n]))


@pytest.mark.parametrize("room", [0, 10])
def test_a_full_disk_is_one_line_and_leaves_no_half_record(room, tmp_path):
    out = tmp_path / "tags.jsonl"
    results = ResultsFile(out, "jsonl")
    results.write(_plain("a.mp4"))
    whole = out.read_bytes()
    results.file.close()
    results.file = io.TextIOWrapper(io.BufferedWriter(_FillsUp(out, room)), encoding="utf-8", newline="")
    with pytest.raises(VidkitError) as raised:
        results.write(_plain("b" * 100 + ".mp4"))
    assert str(raised.value) == f"{out}: cannot write (No space left on device)"
    results.close()  # nothing more to write, nothing raised again; the lock is released
    assert out.read_bytes() == whole  # the last record complete, the failed one absent
    assert [json.loads(line)["path"] for line in whole.splitlines()] == ["a.mp4"]
    assert not (tmp_path / ".tags.jsonl.lock").exists()


def test_a_stream_gets_the_records_and_no_file_is_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for fmt in ("jsonl", "csv"):
        stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", newline="")  # not UTF-8: still written so
        results = ResultsFile(Path("-"), fmt, stream=stream)
        results.write(_plain("été.mp4"))
        results.close()
        text = stream.buffer.getvalue().decode("utf-8")
        if fmt == "csv":
            assert text.startswith(HEADER) and text.splitlines()[1].startswith("été.mp4,")
        else:
            assert json.loads(text)["path"] == "été.mp4"
    assert list(tmp_path.iterdir()) == []  # no file named "-", no lock


def test_outputlock_is_released_for_the_next_holder(tmp_path):
    out = tmp_path / "x.jsonl"
    lock = OutputLock(out)
    assert (tmp_path / ".x.jsonl.lock").read_text() == f"{os.getpid()}\n"
    lock.release()
    lock.release()  # twice is harmless
    OutputLock(out).release()
