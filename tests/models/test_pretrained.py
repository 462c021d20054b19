"""Published weights by name: every shipped entry is complete, and an entry served from 127.0.0.1 (the
tests' own registry file, ``VIDKIT_WEIGHTS_ENTRIES``) builds, tags a folder with no other flag and its
own class names, and offline says where to put the file, in one line. No test touches the internet."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import threading
from urllib.parse import urlparse

import pytest
import torch

from vidkit.cli import main
from vidkit.errors import ConfigError
from vidkit.io.encode import write_video
from vidkit.models import build, list_models
from vidkit.models.pretrained import get_weights, list_weights

CLASSES = ["walk", "run", "jump", "sit"]


# -- the shipped entries ------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", list_weights(), ids=lambda e: f"{e.model or 'none'}-{e.name}")
def test_every_shipped_entry_is_complete(entry):
    assert entry.model in ("", *list_models())
    for url in entry.urls:
        parts = urlparse(url)
        assert parts.scheme == "https" and parts.hostname and parts.path.endswith(entry.filename), url
    if entry.hash_prefix:
        assert re.fullmatch(r"[0-9a-f]{8,64}", entry.hash_prefix) and entry.hash_prefix in entry.filename
    assert entry.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
    assert len(entry.classes()) == entry.num_classes == len(set(entry.classes()))
    r = entry.recipe
    assert r.num_frames > 0 and r.crop_size > 0 and r.short_side >= r.crop_size * 0.5
    assert len(r.mean) == len(r.std) == 3 and all(0 < x < 1 for x in (*r.mean, *r.std))
    assert re.fullmatch(r"\d+x\d+", r.views)
    assert entry.accuracy["top1"] > 0 and urlparse(entry.accuracy["source"]).scheme == "https"
    assert entry.params is None or entry.params > 1_000_000


def test_the_entries_the_issue_asks_for_are_listed():
    names = {(e.model, e.name) for e in list_weights()}
    kinetics = ["slowfast_r50", "slowfast_r50_4x16", "slow_r50", "c2d_r50", "i3d_r50", "tsm_r50"]
    kinetics += ["r3d_18", "mc3_18", "r2plus1d_18"]
    assert {(m, "kinetics400") for m in kinetics} <= names
    assert {("slowfast_r50", "ssv2"), ("tsm_r50", "ssv2"), ("c2d_r50", "imagenet"), ("i3d_r50", "imagenet")} <= names
    assert len(names) == len(list_weights())  # a name is one entry of one model
    assert get_weights("slowfast", "kinetics400").classes()[:2] == ["abseiling", "air drumming"]
    assert get_weights("slowfast_r50", "kinetics400-pyslowfast").loadable  # a Caffe2 pickle, read since issue 31
    nopool = get_weights("c2d_r50", "kinetics400-pyslowfast")  # C2D_NOPOOL: vidkit's C2D pools after res2
    assert not nopool.loadable
    with pytest.raises(ConfigError, match="C2D_NOPOOL_8x8_R50.pkl"):
        nopool.fetch()


def test_networks_trained_on_bgr_get_bgr():
    from vidkit.data.transforms import ClipTransform

    assert get_weights("slowfast_r50", "ssv2").recipe.channels == "BGR"  # PySlowFast's REVERSE_INPUT_CHANNEL
    assert get_weights("slowfast_r50", "kinetics400").recipe.channels == "RGB"
    clips = torch.randint(0, 256, (1, 2, 4, 4, 3), dtype=torch.uint8)
    rgb, bgr = ClipTransform().normalize(clips), ClipTransform(channels="BGR").normalize(clips)
    torch.testing.assert_close(bgr, rgb.flip(1))


def test_a_name_no_entry_has_lists_the_models_entries():
    with pytest.raises(ConfigError, match=r"c2d_r50 has no weights named 'kinetic400' \(its entries: kinetics400, "):
        build("c2d_r50", num_classes=400, weights="kinetic400")


def test_models_lists_the_weights(capsys):
    assert main(["models", "--weights"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"slowfast_r50 +kinetics400 +kinetics400 \(400\) +32 frames every 2 at 30 fps", out)
    assert re.search(r"r3d_18 +kinetics400 .* 63\.20 \(Kinetics-400", out)
    assert main(["models", "slow_r50", "--no-flops"]) == 0
    out = capsys.readouterr().out
    assert "32,454,096" in out and re.search(r"slow_r50 +ssv2 +ssv2 \(174\)", out)


# -- an entry served from 127.0.0.1 -------------------------------------------------------------------
@pytest.fixture
def served(tmp_path, monkeypatch):
    """A checkpoint (c2d_r50, 4 classes) served over HTTP on 127.0.0.1, and a registry file naming it
    ``test-walks`` with its class names and a small recipe; the weights cache is empty."""
    yield from _serve(tmp_path, monkeypatch, CLASSES)


@pytest.fixture
def served_synthetic(tmp_path, monkeypatch):
    """:func:`served` with the 8 classes of the built-in synthetic set."""
    yield from _serve(tmp_path, monkeypatch, [f"class{i}" for i in range(8)])


def _serve(tmp_path, monkeypatch, classes):
    root = tmp_path / "site"
    (root / "models").mkdir(parents=True)
    torch.manual_seed(0)
    model = build("c2d_r50", num_classes=len(classes)).eval()
    checkpoint = root / "models" / "c2d_walks.pt"
    torch.save(model.state_dict(), checkpoint)
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/models/c2d_walks.pt"
    entries = tmp_path / "entries.json"
    recipe = {"num_frames": 4, "interval_s": 0.1, "short_side": 32, "crop_size": 32, "views": "1x1"}
    recipe |= {"mean": [0.45] * 3, "std": [0.225] * 3}
    entry = {"model": "c2d_r50", "name": "test-walks", "urls": [url], "layout": "pytorchvideo", "labels": classes}
    entry |= {
        "num_classes": len(classes),
        "recipe": recipe,
        "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
    }
    entry |= {"accuracy": {"top1": 50.0, "source": "https://example.org"}}
    entries.write_text(json.dumps([entry]))
    monkeypatch.setenv("VIDKIT_WEIGHTS_ENTRIES", str(entries))
    monkeypatch.setenv("VIDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VIDKIT_OFFLINE", raising=False)
    yield {"url": url, "model": model, "requests": QuietHandler.requests, "cache": tmp_path / "cache"}
    server.shutdown()
    QuietHandler.requests.clear()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        QuietHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


def test_build_by_name_downloads_once_and_loads(served):
    model = build("c2d_r50", num_classes=4, weights="test-walks").eval()
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(clip), served["model"](clip))
    build("c2d_r50", num_classes=4, weights="test-walks")
    assert served["requests"] == ["/models/c2d_walks.pt"]  # never fetched twice
    (cached,) = [p for p in served["cache"].rglob("c2d_walks.pt")]
    assert cached.relative_to(served["cache"]).parts[:2] == ("weights", "127.0.0.1")


def test_tag_by_name_needs_no_other_flag(served, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(2):
        write_video(videos / f"v{i}.mp4", torch.randint(0, 256, (20, 32, 48, 3), dtype=torch.uint8, generator=g))
    out = tmp_path / "tags.jsonl"
    assert main(["tag", str(videos), "--model", "c2d_r50", "--weights", "test-walks", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "4 classes" in err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2 and all(r["error"] is None for r in records)
    assert all({x["label"] for x in r["labels"]} <= set(CLASSES) for r in records)


def test_offline_with_an_empty_cache_is_one_line(served, tmp_path, run_vidkit):
    out = tmp_path / "tags.jsonl"
    args = ["tag", str(tmp_path), "--model", "c2d_r50", "--weights", "test-walks", "--out", str(out)]
    env = {k: os.environ[k] for k in ("VIDKIT_WEIGHTS_ENTRIES", "VIDKIT_CACHE")} | {"VIDKIT_OFFLINE": "1"}
    run = run_vidkit(args, env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    [line] = run.stderr.strip().splitlines()
    cached = served["cache"] / "weights" / "127.0.0.1" / "models" / "c2d_walks.pt"
    assert line == (
        f"vidkit tag: error: cannot download weights {served['url']} (offline: VIDKIT_OFFLINE=1): "
        f"put the file at {cached}"
    )
    assert served["requests"] == [] and not out.exists()


def test_train_starts_from_published_weights_by_name(served_synthetic, tiny, tmp_path):
    run = tiny.run([*tiny.args(tmp_path / "run", epochs=1), "--model", "c2d_r50", "--weights", "test-walks"])
    assert run.returncode == 0, run.stderr
    assert served_synthetic["requests"] == ["/models/c2d_walks.pt"]
