"""Downloads against a real HTTP server on 127.0.0.1 that serves generated files, honours Range
requests, and can be told to cut the connection after N bytes, to answer an error status, to ignore
Range (answer 200 with the whole file), or to send slowly. It records every request and its Range
header, so the tests can say what reached it. Nothing here touches the internet."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vidkit.errors import ConfigError, VidkitError
from vidkit.utils import DownloadError, HashMismatchError, cache_dir, fetch, mirror_url, weights_dir

SIZE = 300_000


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        state = self.server.state
        path, range_header = self.path, self.headers.get("Range")
        state.requests.append((path, range_header))
        rule = state.rules.get(path, {})
        if path not in state.files or "status" in rule:
            self.send_error(rule.get("status", 404))
            return
        data = state.files[path]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and not rule.get("ignore_range"):
            start = int(match[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = rule.pop("cut_after", None)  # once: the next request is served whole
        if cut is not None:
            body = body[:cut]
            self.close_connection = True
        for i in range(0, len(body), 16384):
            self.wfile.write(body[i : i + 16384])
            time.sleep(rule.get("delay_s", 0))

    def log_message(self, *args):
        pass


class _Server:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.rules: dict[str, dict] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.state = self
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, data: bytes, **rule) -> str:
        self.files[path] = data
        self.rules[path] = rule
        return self.base + path


@pytest.fixture
def server():
    s = _Server()
    thread = threading.Thread(target=s.httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def environment(monkeypatch, tmp_path):
    monkeypatch.delenv("VIDKIT_OFFLINE", raising=False)
    monkeypatch.delenv("VIDKIT_WEIGHTS_MIRROR", raising=False)
    monkeypatch.setenv("VIDKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def blob():
    data = os.urandom(SIZE)
    return data, hashlib.sha256(data).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_file_lands_under_its_url_name_when_its_full_sha256_matches(server, blob, tmp_path):
    data, digest = blob
    url = server.serve("/models/x3d_s.pyth", data)
    path = fetch(url, dest_dir=tmp_path / "w", sha256=digest.upper())
    assert path == tmp_path / "w" / "x3d_s.pyth"
    assert path.read_bytes() == data
    assert not path.with_name("x3d_s.pyth.part").exists()
    assert server.requests == [("/models/x3d_s.pyth", None)]


def test_a_hash_prefix_as_in_torchvision_names_is_checked(server, blob, tmp_path):
    data, digest = blob
    name = f"r3d_18-{digest[:8]}.pth"
    url = server.serve(f"/models/{name}", data)
    path = fetch(url, dest_dir=tmp_path, hash_prefix=digest[:8], filename="r3d.pth")
    assert path.name == "r3d.pth" and path.read_bytes() == data


@pytest.mark.parametrize("given", ["sha256", "hash_prefix"])
def test_a_mismatch_deletes_the_download_and_names_url_and_both_hashes(server, blob, tmp_path, given):
    data, digest = blob
    url = server.serve("/models/bad.pth", data)
    wrong = "0" * 64 if given == "sha256" else "deadbeef"
    with pytest.raises(HashMismatchError) as caught:
        fetch(url, dest_dir=tmp_path, **{given: wrong})
    expected = wrong if given == "sha256" else "deadbeef... (a prefix)"
    assert str(caught.value) == (
        f"weights {url} failed the hash check: sha256 {digest}, expected {expected}; deleted {tmp_path}/bad.pth.part"
    )
    assert isinstance(caught.value, DownloadError) and isinstance(caught.value, VidkitError)
    assert sorted(os.listdir(tmp_path)) == ["bad.pth.lock"]


def test_a_cut_connection_is_resumed_with_a_range_request(server, blob, tmp_path):
    data, digest = blob
    url = server.serve("/models/slowfast.pyth", data, cut_after=100_000)
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest_dir=tmp_path, sha256=digest)
    assert str(caught.value) == (
        f"cannot download weights {url} (connection lost after 100,000 of 300,000 bytes; call again to resume): "
        f"put the file at {tmp_path}/slowfast.pyth"
    )
    assert (tmp_path / "slowfast.pyth.part").stat().st_size == 100_000
    assert not (tmp_path / "slowfast.pyth").exists()

    path = fetch(url, dest_dir=tmp_path, sha256=digest)
    assert server.requests[-1] == ("/models/slowfast.pyth", "bytes=100000-")
    assert path.read_bytes() == data
    assert not (tmp_path / "slowfast.pyth.part").exists()


def test_a_server_that_ignores_range_restarts_from_zero(server, blob, tmp_path):
    data, digest = blob
    url = server.serve("/models/i3d.pyth", data, cut_after=120_000, ignore_range=True)
    with pytest.raises(DownloadError, match="connection lost after 120,000 of 300,000 bytes"):
        fetch(url, dest_dir=tmp_path)
    path = fetch(url, dest_dir=tmp_path, sha256=digest)  # the server answers the Range with 200
    assert server.requests[-1] == ("/models/i3d.pyth", "bytes=120000-")
    assert path.read_bytes() == data


def test_a_416_on_a_whole_part_finishes_it_and_on_a_longer_part_starts_again(server, blob, tmp_path):
    data, digest = blob
    url = server.serve("/models/c2d.pyth", data)
    (tmp_path / "c2d.pyth.part").write_bytes(data)  # cut after the last byte, before the rename
    assert fetch(url, dest_dir=tmp_path, sha256=digest).read_bytes() == data
    assert server.requests == [("/models/c2d.pyth", f"bytes={SIZE}-")]

    (tmp_path / "c2d.pyth").unlink()
    (tmp_path / "c2d.pyth.part").write_bytes(data + b"junk")  # longer than the file: the server's file changed
    assert fetch(url, dest_dir=tmp_path, sha256=digest).read_bytes() == data
    assert server.requests[1:] == [("/models/c2d.pyth", f"bytes={SIZE + 4}-"), ("/models/c2d.pyth", None)]


def test_a_404_is_one_line_and_leaves_nothing(server, tmp_path):
    url = server.base + "/models/missing.pth"
    (tmp_path / "missing.pth.part").write_bytes(b"a part of a file that is gone now")
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest_dir=tmp_path)
    assert str(caught.value) == (
        f"cannot download weights {url} (HTTP 404 Not Found): put the file at {tmp_path}/missing.pth"
    )
    assert sorted(os.listdir(tmp_path)) == ["missing.pth.lock"]


@pytest.mark.parametrize("status, reason", [(403, "Forbidden"), (500, "Internal Server Error")])
def test_other_http_errors_are_one_line_and_keep_a_part_for_later(server, blob, tmp_path, status, reason):
    url = server.serve("/models/x.pth", blob[0], status=status)
    (tmp_path / "x.pth.part").write_bytes(blob[0][:1000])
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest_dir=tmp_path, what="labels")
    assert (
        str(caught.value) == f"cannot download labels {url} (HTTP {status} {reason}): put the file at {tmp_path}/x.pth"
    )
    assert (tmp_path / "x.pth.part").read_bytes() == blob[0][:1000]


def test_offline_raises_one_line_without_a_request(server, blob, tmp_path, monkeypatch):
    url = server.serve("/models/r3d_18-b3b3357e.pth", blob[0])
    monkeypatch.setenv("VIDKIT_OFFLINE", "1")
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest_dir=weights_dir())
    where = Path(os.environ["VIDKIT_CACHE"]) / "weights" / "r3d_18-b3b3357e.pth"
    assert str(caught.value) == f"cannot download weights {url} (offline: VIDKIT_OFFLINE=1): put the file at {where}"
    assert server.requests == []

    where.write_bytes(blob[0])  # put there by hand: used, still with no request
    assert fetch(url, dest_dir=weights_dir(), sha256=blob[1]) == where
    assert server.requests == []


def test_no_network_names_url_and_path(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/models/x.pth"
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest_dir=tmp_path)
    assert str(caught.value) == (
        f"cannot download weights {url} (no network: Connection refused): put the file at {tmp_path}/x.pth"
    )


def test_a_server_that_never_answers_times_out(tmp_path):
    with socket.socket() as listener:  # accepts connections (the backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x.pth"
        with pytest.raises(DownloadError) as caught:
            fetch(url, dest_dir=tmp_path, timeout_s=0.3)
    assert (
        str(caught.value)
        == f"cannot download weights {url} (no network: timed out after 0.3 s): put the file at {tmp_path}/x.pth"
    )


def test_a_mirror_replaces_scheme_and_host_and_keeps_the_path(server, blob, tmp_path, monkeypatch):
    data, digest = blob
    server.serve("/base/pytorchvideo/kinetics/x.pyth", data)
    monkeypatch.setenv("VIDKIT_WEIGHTS_MIRROR", server.base + "/base/")
    url = "https://dl.fbaipublicfiles.com/pytorchvideo/kinetics/x.pyth"
    assert fetch(url, dest_dir=tmp_path, sha256=digest).read_bytes() == data
    assert server.requests == [("/base/pytorchvideo/kinetics/x.pyth", None)]

    with pytest.raises(DownloadError) as caught:
        fetch("https://dl.fbaipublicfiles.com/other/y.pyth", dest_dir=tmp_path)
    assert str(caught.value) == (
        f"cannot download weights https://dl.fbaipublicfiles.com/other/y.pyth from the mirror "
        f"{server.base}/base/other/y.pyth (HTTP 404 Not Found): put the file at {tmp_path}/y.pyth"
    )


def test_mirror_url_joins_the_whole_path_below_the_mirror(monkeypatch, tmp_path, blob):
    url = "https://dl.fbaipublicfiles.com:443/pytorchvideo/x.pyth?dl=1#frag"
    assert mirror_url(url) == url
    monkeypatch.setenv("VIDKIT_WEIGHTS_MIRROR", "https://mirror.example/base")
    assert mirror_url(url) == "https://mirror.example/base/pytorchvideo/x.pyth?dl=1"
    monkeypatch.setenv("VIDKIT_WEIGHTS_MIRROR", f"file://{tmp_path}/copy/")  # a folder works too
    (tmp_path / "copy" / "pytorchvideo").mkdir(parents=True)
    (tmp_path / "copy" / "pytorchvideo" / "x.pyth").write_bytes(blob[0])
    assert mirror_url(url) == f"file://{tmp_path}/copy/pytorchvideo/x.pyth"
    assert fetch(url, dest_dir=tmp_path / "w", sha256=blob[1]).read_bytes() == blob[0]
    with pytest.raises(DownloadError, match=r"\(No such file or directory\): put the file at "):
        fetch(url.replace("x.pyth", "y.pyth"), dest_dir=tmp_path / "w")
    monkeypatch.setenv("VIDKIT_WEIGHTS_MIRROR", "mirror.example")
    with pytest.raises(ConfigError, match="VIDKIT_WEIGHTS_MIRROR='mirror.example': not a base URL"):
        mirror_url(url)


def test_never_fetched_twice_and_hashed_once(server, blob, tmp_path, monkeypatch):
    data, digest = blob
    url = server.serve("/models/tsm.pth", data)
    path = fetch(url, dest_dir=tmp_path, hash_prefix=digest[:10])
    hashed = []
    monkeypatch.setattr(
        "vidkit.utils.download.file_digest", lambda p: hashed.append(p) or hashlib.sha256(data).hexdigest()
    )
    assert fetch(url, dest_dir=tmp_path, hash_prefix=digest[:10]) == path
    assert fetch(url, dest_dir=tmp_path, sha256=digest) == path
    assert fetch(url, dest_dir=tmp_path) == path
    assert len(server.requests) == 1 and hashed == []  # the sidecar vouches for the file
    os.utime(path, ns=(0, 0))  # touched: hashed again, once
    fetch(url, dest_dir=tmp_path, sha256=digest)
    fetch(url, dest_dir=tmp_path, sha256=digest)
    assert len(server.requests) == 1 and hashed == [path]


def test_a_cached_file_with_the_wrong_hash_is_deleted_and_fetched_again(server, blob, tmp_path, monkeypatch):
    data, digest = blob
    url = server.serve("/models/slow_r50.pyth", data)
    (tmp_path / "slow_r50.pyth").write_bytes(b"not the weights")
    bad = hashlib.sha256(b"not the weights").hexdigest()
    monkeypatch.setenv("VIDKIT_OFFLINE", "yes")
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest_dir=tmp_path, sha256=digest)
    assert str(caught.value) == (
        f"cannot download weights {url} (offline: VIDKIT_OFFLINE=yes; the file that was there had sha256 {bad}, "
        f"expected {digest}, and was deleted): put the file at {tmp_path}/slow_r50.pyth"
    )
    (tmp_path / "slow_r50.pyth").write_bytes(b"not the weights")
    monkeypatch.setenv("VIDKIT_OFFLINE", "0")
    assert fetch(url, dest_dir=tmp_path, sha256=digest).read_bytes() == data
    assert len(server.requests) == 1


def test_two_fetches_at_once_download_once(server, blob, tmp_path):
    data, digest = blob
    url = server.serve("/models/mvit.pyth", data, delay_s=0.01)
    results, errors = [], []

    def run():
        try:
            results.append(fetch(url, dest_dir=tmp_path, sha256=digest))
        except Exception as e:  # shown by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]  # flock holds between open files, threads too
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [tmp_path / "mvit.pyth"] * 3
    assert server.requests == [("/models/mvit.pyth", None)]
    assert (tmp_path / "mvit.pyth").read_bytes() == data


def test_a_progress_bar_with_the_size_on_a_terminal(server, blob, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    url = server.serve("/models/x.pth", blob[0])
    monkeypatch.setattr("sys.stderr", Terminal())
    fetch(url, dest_dir=tmp_path / "a")
    shown = __import__("sys").stderr.getvalue()
    assert "weights x.pth" in shown and "293k" in shown  # 300,000 B = 293 KiB
    monkeypatch.setattr("sys.stderr", Terminal())
    fetch(url, dest_dir=tmp_path / "b", progress=False)
    assert __import__("sys").stderr.getvalue() == ""


def test_a_cached_file_is_checked_without_the_lock_so_a_read_only_cache_works(blob, tmp_path, monkeypatch):
    (tmp_path / "x.pth").write_bytes(blob[0])  # put there by hand, no sidecar
    monkeypatch.setattr("vidkit.utils.download.file_lock", lambda path: pytest.fail(f"locked {path}"))
    assert fetch("http://127.0.0.1:9/x.pth", dest_dir=tmp_path, sha256=blob[1]) == tmp_path / "x.pth"


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(DownloadError) as caught:
        fetch("http://127.0.0.1:9/x.pth", dest_dir=tmp_path / "afile" / "w")
    assert str(caught.value) == (
        f"cannot download weights http://127.0.0.1:9/x.pth ({tmp_path}/afile/w: Not a directory): "
        f"put the file at {tmp_path}/afile/w/x.pth"
    )


def test_weights_dir_is_in_vidkit_s_cache_folder():
    assert weights_dir() == cache_dir("weights") == Path(os.environ["VIDKIT_CACHE"]) / "weights"
    assert weights_dir().is_dir()


def test_bad_arguments_and_pickled_errors(tmp_path):
    with pytest.raises(ValueError, match="hash_prefix='b3b3': give 8 to 64 hex digits"):
        fetch("http://127.0.0.1/x.pth", dest_dir=tmp_path, hash_prefix="b3b3")
    with pytest.raises(ValueError, match="no file name in the URL's path; give filename="):
        fetch("http://127.0.0.1/models/", dest_dir=tmp_path)
    with pytest.raises(ValueError, match="give a plain file name"):
        fetch("http://127.0.0.1/x.pth", dest_dir=tmp_path, filename="../x.pth")
    for error in (
        DownloadError("http://h/x.pth", "/c/x.pth", "HTTP 404 Not Found", "labels", "http://m/x.pth"),
        HashMismatchError("http://h/x.pth", "/c/x.pth.part", "b3b3357e", "f" * 64),
    ):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error) and "\n" not in str(error)
