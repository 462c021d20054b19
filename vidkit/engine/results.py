"""Where results go: one record per input, appended and flushed as it is made, resumable.

:class:`ResultsFile` is the file ``vidkit tag`` writes (JSON lines, or CSV with a header): a run
killed at any moment (even SIGKILL) and started again with the same output finds the records it
holds (:attr:`ResultsFile.done`) and cuts off a last line left half-written, so no record is lost
and none written twice.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import stat
import time
from pathlib import Path
from typing import IO

from vidkit.engine.output_lock import OutputLock
from vidkit.errors import ConfigError, VidkitError
from vidkit.utils import atomic_write

_FSYNC_EVERY_S = 2.0
CSV_FIELDS = ("path", "label", "score", "labels", "duration_s", "error", "segments", "video")


def top_labels(scores, classes: list[str], top_k: int) -> list[dict]:
    """The ``top_k`` best of ``scores`` (a tensor of class scores) as ``[{"label", "score"}]``, best first,
    scores to 6 decimals: how every vidkit output writes labels."""
    values, index = scores.topk(min(top_k, len(classes)))
    return [{"label": classes[i], "score": round(float(v), 6)} for v, i in zip(values, index.tolist())]


def tag_record(result, classes: list[str], top_k: int) -> dict:
    """The record of one video (a :class:`~vidkit.engine.tagger.TagResult`): its top ``top_k``
    labels with scores, its duration and what the decoder saw, or the reason it failed; and with
    segments, the labels of each window."""

    def top(scores):
        return top_labels(scores, classes, top_k)

    record = {
        "path": result.path,
        "labels": top(result.scores) if result.scores is not None else [],
        "duration_s": (result.info or {}).get("duration_s"),
        "video": result.info,
        "error": result.error,
        "clips": result.clips,
    }
    if result.segments:
        record["segments"] = [
            {"start_s": round(a, 3), "end_s": round(b, 3), "labels": top(s)} for a, b, s in result.segments
        ]
    return text_record(record)


def text_record(record: dict) -> dict:
    """``record`` (``path`` first) as it is written: a ``path`` that is not UTF-8 shown with U+FFFD and
    kept exactly in a ``path_b64`` key after it, every other such string shown with U+FFFD."""
    path = record["path"]
    if not _is_text(path):  # a name that is not UTF-8: shown with U+FFFD, kept exactly in path_b64
        record = {"path": path, "path_b64": base64.b64encode(os.fsencode(path)).decode("ascii"), **record}
    return _as_text(record)


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes: bytes os.fsdecode could not decode
        return False
    return True


def _as_text(value):
    """``value`` (a record) with every string that holds bytes os.fsdecode could not decode (a file
    name that is not UTF-8, or a message quoting one) shown with U+FFFD for those bytes."""
    if isinstance(value, str):
        if _is_text(value):
            return value
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a lone surrogate of another kind
            return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_text(v) for v in value]
    return value


def _key(record: dict) -> str:
    """The path a record is for, as :func:`vidkit.io.find_videos` gives it: from ``path_b64`` when
    the name is not UTF-8 (its ``path`` shows it with U+FFFD, which matches no file)."""
    if record.get("path_b64"):
        return os.fsdecode(base64.b64decode(record["path_b64"], validate=True))
    return record["path"]


def read_tag_records(path: Path):
    """``(path, record)`` of each record of a JSON-lines ``vidkit tag`` output, ``path`` the video's exact
    name (from ``path_b64`` when it is not UTF-8); a last line cut short by a kill is skipped, any other
    line that is not a record is a :class:`~vidkit.errors.ConfigError` naming it."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    lines = data.splitlines(keepends=True)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
            yield _key(record), record
        except (ValueError, KeyError, TypeError, AttributeError):
            if number == len(lines) and not line.endswith(b"\n"):
                return  # the start of a record a kill cut short
            raise ConfigError(f"{path}:{number}: not a vidkit tag record") from None


# Failures that may pass on a rerun, so a rerun tags the file again: the decoder worker crashed or
# hung (vidkit.utils.isolated_map), decoding timed out or stalled (the readers' DecodeTimeoutError),
# an error vidkit did not expect, or no clip read without a reason (an option such as --segments 0).
# Every other reason is the file's own (empty, not a video, no video stream, ...) and final.
_MAY_PASS = re.compile(
    r"the \w+ (?:crashed|hung) \(|timed out |decoding stalled|unexpected error while decoding|no clips could be read"
)


def may_pass(error: str | None) -> bool:
    """Whether a record's ``error`` is a failure a rerun tries again (a crash, a stall, a timeout...)."""
    return bool(error) and _MAY_PASS.match(error) is not None


class ResultsFile:
    """The results, one record per video, appended and flushed as they are made (fsynced every few
    seconds). Opening an existing file reads the paths it holds (:attr:`done`) and cuts off a last
    line a killed run left half-written."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        *,
        stream: IO[str] | None = None,
        inputs: set[str] | None = None,
        job: str = "tag",
    ):
        """``stream`` (standard output for ``--out -``): write the records there instead, with no
        lock, repair or resume. Otherwise ``path`` is locked against a second run (:class:`OutputLock`)
        and checked to be vidkit's own output (:func:`check_output`) before anything is changed.
        ``inputs``: the paths this run will write records for; of those only, a record that failed
        for a reason that may pass is removed, so the run makes it again (records of other paths,
        another shard's say, are kept as they are). A symlinked ``path`` is written where it points,
        so the link stays a link and its target the one file written. ``job``: the command writing it,
        as the lock's refusal names it."""
        if stream is None:
            path = Path(os.path.realpath(path))
        self.path, self.fmt, self.stream, self.inputs = path, fmt, stream, inputs or set()
        self.done: set[str] = set()
        self.synced = time.monotonic()
        self.lock: OutputLock | None = None
        if stream is not None:
            self.file = stream
            if fmt == "csv":
                self._append(_csv_line(CSV_FIELDS))
            return
        check_output(path, fmt, contents=False)  # before the folder or the lock file is made
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _cannot_write(path, e) from None
        self.lock = OutputLock(path, job=job)
        try:
            check_output(path, fmt)  # again, now that no other run can be writing it
            if path.exists():
                self._repair()
                self._resume()
            new = not path.exists() or path.stat().st_size == 0
            self.file = open(path, "a", encoding="utf-8", newline="")
            if new and fmt == "csv":
                self._append(_csv_line(CSV_FIELDS))
        except OSError as e:
            self.lock.release()
            raise _cannot_write(path, e) from None
        except BaseException:
            self.lock.release()
            raise

    def _repair(self) -> None:
        """Cut off a last record a kill left half-written (it is made again). A JSON line ends at
        its first newline; a CSV record may span lines (a quoted path holding a newline), so CSV is
        cut back to the end of its last complete record, as the csv module parses it."""
        with open(self.path, "rb+") as f:
            data = f.read()
            if self.fmt == "csv":
                try:
                    spans = [end for _, end in _csv_rows(data)]
                except csv.Error as e:
                    raise ConfigError(f"{self.path}: not a vidkit tag output ({e}); use another --out") from None
                end = spans[-1] if spans else 0
                if end < len(data):
                    f.truncate(end)
            elif data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)  # a line cut by a kill: it is made again

    def _records(self):
        """``(path, error, raw bytes)`` of each record in the file, in order, the raw bytes of all of
        them together being the whole file; ``path`` is None for the CSV header and blank lines."""
        data = self.path.read_bytes()
        if self.fmt == "csv":
            header, start = None, 0
            try:
                rows = list(_csv_rows(data))
            except csv.Error as e:
                raise ConfigError(f"{self.path}: not a vidkit tag output ({e}); use another --out") from None
            for row, end in rows:
                raw, start = data[start:end], end
                if header is None:
                    header = row
                    yield None, None, raw
                    continue
                fields = dict(zip(header, row))
                path = fields.get("path")
                if path and "\ufffd" in path:  # maybe a name that is not UTF-8: the exact one is in "video"
                    try:
                        path = _key(
                            {"path": path, "path_b64": (json.loads(fields.get("video") or "") or {})["path_b64"]}
                        )
                    except (ValueError, KeyError, TypeError):
                        pass
                yield path or None, fields.get("error") or None, raw
            if start < len(data):
                yield None, None, data[start:]
            return
        for number, line in enumerate(data.splitlines(keepends=True), 1):
            if not line.strip():
                yield None, None, line
                continue
            try:
                record = json.loads(line.decode("utf-8"))
                yield _key(record), record.get("error"), line
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ConfigError(f"{self.path}:{number}: not a vidkit tag record; use another --out") from None

    def _resume(self) -> None:
        """Read the paths the file holds into :attr:`done`, leaving out those of this run's inputs whose
        record failed for a reason that may pass (:func:`may_pass`: a crash, a stall, a timeout), which
        the run tags again: such records are first removed from the file, by writing it anew without
        them and renaming that over it (permissions kept), so it keeps one record per input at every
        moment."""
        kept, retried = [], 0
        for key, error, raw in self._records():
            if key is not None and key in self.inputs and may_pass(error):
                retried += 1
                continue
            kept.append(raw)
            if key is not None:
                self.done.add(key)
        if retried:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            with atomic_write(self.path, "wb", file_mode=mode) as f:
                f.writelines(kept)

    def write(self, record: dict) -> None:
        """Append ``record`` (:func:`tag_record`). For a name that is not UTF-8, a JSON line has the
        record's ``path_b64`` key; a CSV row, whose columns are fixed, has it in its ``video`` column's
        object, so ordinary rows and the header stay as they are."""
        if self.fmt == "csv":
            best = record["labels"][0] if record["labels"] else {"label": "", "score": ""}
            video = record["video"]
            if record.get("path_b64"):
                video = {**(video or {}), "path_b64": record["path_b64"]}
            line = _csv_line(
                [
                    record["path"],
                    best["label"],
                    best["score"],
                    json.dumps(record["labels"]),
                    "" if record["duration_s"] is None else record["duration_s"],
                    record["error"] or "",
                    json.dumps(record.get("segments", [])),
                    json.dumps(video),
                ]
            )
        else:
            line = json.dumps(record, ensure_ascii=False) + "\n"
        self._append(line)
        self.done.add(_key(record))

    def _append(self, line: str) -> None:
        if self.stream is not None:
            self._to_stream(line)
            return
        fd = self.file.fileno()
        start = os.fstat(fd).st_size  # where this record begins: a failed write is cut back to it
        try:
            self.file.write(line)
            self.file.flush()  # in the OS's hands: survives the process being killed
            if time.monotonic() - self.synced > _FSYNC_EVERY_S:
                os.fsync(fd)
                self.synced = time.monotonic()
        except OSError as e:  # a full disk, a quota, an I/O error: no half record left behind
            self._abandon(start)
            raise _cannot_write(self.path, e) from None

    def _to_stream(self, line: str) -> None:
        """Write ``line`` to the stream as UTF-8 whatever the locale's encoding, as a file would be."""
        try:
            buffer = getattr(self.stream, "buffer", None)
            if buffer is None:
                self.stream.write(line)
            else:
                self.stream.flush()
                buffer.write(line.encode("utf-8"))
                buffer.flush()
            self.stream.flush()
        except OSError as e:
            raise _cannot_write(self.path, e) from None

    def _abandon(self, size: int | None) -> None:
        """Cut the file back to ``size`` bytes (None: leave it) and close it without writing what is
        still buffered (which would fail again, or leave a part of a record)."""
        if size is not None:
            try:
                os.ftruncate(self.file.fileno(), size)
            except OSError:
                pass
        raw = getattr(getattr(self.file, "buffer", None), "raw", None)
        if raw is not None:
            raw.close()  # the wrapper now counts as closed: no flush at close or garbage collection
        else:
            try:
                self.file.close()
            except OSError:
                pass

    def close(self) -> None:
        if self.stream is not None:
            self._to_stream("")
            return
        try:
            if not self.file.closed:
                self.file.flush()
                os.fsync(self.file.fileno())
                self.file.close()
        except OSError as e:
            self._abandon(None)
            raise _cannot_write(self.path, e) from None
        finally:
            if self.lock is not None:
                self.lock.release()


def check_output(path: Path, fmt: str, *, contents: bool = True, key: str = "path", job: str = "tag") -> None:
    """Refuse, in one line and changing nothing, an output ``vidkit tag`` must not append to: an
    existing path that is not a regular file (a folder, ``/dev/zero``, ``/dev/null``, a pipe such as
    a piped ``/dev/stdout``), or a file that is not vidkit's own output in ``fmt``: JSON lines each a
    record with a ``path`` (or ``path_b64``), or a CSV whose first line is vidkit's header. An empty
    file, and a last line cut short by a kill (the start of a record), are vidkit's. Without
    ``contents``, only what the path is (a new file, or a regular one) is checked. ``key``/``job``: the key
    every record of another job's JSON lines has (``vidkit watch``'s events: ``type``), and its name."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return  # a new file
    except OSError as e:
        raise ConfigError(f"{path}: cannot be the output ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(
            f"{path}: not a regular file ({_file_kind(mode)}); --out takes a file, or - for standard output"
        )
    if not contents:
        return
    try:
        with open(path, "rb") as f:
            reason = _not_ours(f, fmt, key=key, job=job)
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    if reason:
        raise ConfigError(f"{path}:{reason}; left unchanged, use another --out")


def _not_ours(f, fmt: str, *, key: str = "path", job: str = "tag") -> str | None:
    """Why the open binary file ``f`` is not a vidkit results file in ``fmt`` (``LINE: reason``), or
    None if it is one. Every JSON-lines record begins with its ``key`` (json.dumps of a record, key first)."""
    record_start = b'{"' + key.encode("ascii")
    not_ours = f"not a vidkit {job} record"
    if fmt == "csv":
        header = _csv_line(CSV_FIELDS).encode("utf-8")
        first = f.readline(len(header))
        if first == header or (not first.endswith(b"\n") and header.startswith(first)):
            return None  # the header, an empty file, or a header cut by a kill (written again)
        return "1: not the header of a vidkit tag CSV"
    start = f.read(len(record_start)).lstrip()
    if start and not (record_start.startswith(start) or start.startswith(b"{")):
        return f"1: {not_ours}"  # a binary file (a checkpoint...): refused unread
    f.seek(0)
    for number, line in enumerate(f, 1):
        if not line.endswith(b"\n"):  # the last line, cut by a kill: it must be the start of a record
            if not record_start.startswith(line[: len(record_start)]):
                return f"{number}: {not_ours}"
            break
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return f"{number}: {not_ours}"
        if not isinstance(record, dict) or not (key in record or (key == "path" and "path_b64" in record)):
            return f"{number}: {not_ours}"
    return None


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a pipe"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a file")


def _cannot_write(path: Path, error: OSError) -> VidkitError:
    return VidkitError(f"{path}: cannot write ({error.strerror or error})")


def _csv_line(values) -> str:
    # the csv module leaves a "\r" unquoted (with "\n" as the line end), and then it ends the line
    # when read back: such a row (a name holding a "\r") is written with every field quoted
    quote_all = any(isinstance(v, str) and "\r" in v for v in values)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerow(values)
    return buffer.getvalue()


def _csv_rows(data: bytes):
    """``(fields, end)`` of each complete record of CSV ``data``, ``end`` the byte offset just past
    it. A record may span lines (a quoted field holding a newline); a last one cut short (no final
    newline, or the data ending inside a quoted field) is not complete and not given. Raises
    :class:`csv.Error` on data that is not CSV as vidkit writes it."""
    lines = data.split(b"\n")
    lines = [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    ended = False

    def feed():
        nonlocal ended
        for line in lines:
            yield line.decode("utf-8", "surrogateescape")
        ended = True

    reader = csv.reader(feed())
    offset, used = 0, 0
    for row in reader:
        if ended:  # the reader ran out of data inside this record: cut short
            return
        while used < reader.line_num:
            offset += len(lines[used])
            used += 1
        if data[offset - 1 : offset] != b"\n":
            return
        yield row, offset


__all__ = [
    "CSV_FIELDS",
    "OutputLock",
    "ResultsFile",
    "check_output",
    "may_pass",
    "read_tag_records",
    "tag_record",
    "text_record",
    "top_labels",
]
