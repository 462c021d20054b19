"""``vidkit.features.load``: an extract output (``index.jsonl`` and its ``.npy`` files, made here to the
format's contract) read back with paths, window times, errors, as stacked arrays and as a Dataset; its
local features as sequences, and attention clusters trained on them (``fit_attention_clusters``)."""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import pytest
import torch

import vidkit.features
from vidkit.engine.feature_files import NpyWriter
from vidkit.errors import ConfigError
from vidkit.features import FeatureFileError


def _extract_output(out, inputs: dict, errors: dict | None = None) -> list[dict]:
    """Write ``out`` as ``vidkit extract --format npy`` does: per input a ``.npy`` and a record."""
    (out / "features").mkdir(parents=True)
    records = []
    for number, (path, array) in enumerate(inputs.items()):
        name = f"features/{number:03d}-{os.path.basename(path)}.npy"
        np.save(out / name, array)
        windows = [[2.0 * i, 2.0 * i + 1.6] for i in range(len(array))]
        records.append(
            {
                "path": path,
                "features": name,
                "rows": None,
                "shape": list(array.shape),
                "windows": windows,
                "layer": "pooled",
                "dtype": str(array.dtype),
                "model": "m",
                "error": None,
            }
        )
    for path, reason in (errors or {}).items():
        records.append({"path": path, "features": None, "rows": None, "shape": None, "windows": [], "error": reason})
    _index(out, records)
    return records


def _index(out, records, tail: bytes = b"") -> None:
    (out / "index.jsonl").write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + tail)


def _arrays() -> dict:
    rng = np.random.default_rng(0)
    return {
        "clips/a/x.mp4": rng.standard_normal((3, 5)).astype(np.float16),
        "clips/b/x.mp4": rng.standard_normal((1, 5)).astype(np.float16),
        "clips/c.webm": rng.standard_normal((2, 5)).astype(np.float16),
    }


def test_load_gives_each_input_its_features_and_window_times(tmp_path):
    made = _arrays()
    _extract_output(tmp_path, made, errors={"clips/empty.mp4": "empty file (0 bytes)"})
    loaded = vidkit.features.load(tmp_path)
    assert loaded.paths == list(made) and len(loaded) == 3
    assert loaded.errors == {"clips/empty.mp4": "empty file (0 bytes)"}
    for path, array, times in zip(loaded.paths, loaded.arrays, loaded.windows):
        assert isinstance(array, np.memmap) and array.dtype == np.float16
        np.testing.assert_array_equal(array, made[path])
        np.testing.assert_array_equal(times, [[2.0 * i, 2.0 * i + 1.6] for i in range(len(array))])
    assert not isinstance(vidkit.features.load(tmp_path, mmap=False).arrays[0], np.memmap)

    X, video, times = loaded.stack()
    np.testing.assert_array_equal(X, np.concatenate(list(made.values())))
    assert video.tolist() == [0, 0, 0, 1, 2, 2]
    np.testing.assert_array_equal(times[3:5], [[0, 1.6], [0, 1.6]])


def test_the_dataset_has_one_item_per_window(tmp_path):
    made = _arrays()
    _extract_output(tmp_path, made)
    dataset = vidkit.features.load(tmp_path).as_dataset()
    assert isinstance(dataset, torch.utils.data.Dataset) and len(dataset) == 6
    features, video, window = dataset[4]
    assert video == 2 and torch.equal(features, torch.from_numpy(made["clips/c.webm"][0].copy()))
    assert window.tolist() == [0.0, 1.6]
    assert dataset[-1][1] == 2
    with pytest.raises(IndexError):
        dataset[6]
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch[0].shape == (4, 5) and batch[1].tolist() == [0, 0, 0, 1] and batch[2].shape == (4, 2)


def test_a_missing_or_corrupt_file_is_one_line_naming_it(tmp_path):
    records = _extract_output(tmp_path, _arrays())
    (tmp_path / records[1]["features"]).unlink()
    with pytest.raises(FeatureFileError) as caught:
        vidkit.features.load(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}/features/001-x.mp4.npy: no such file (the index's record for clips/b/x.mp4 names it)"
    )

    (tmp_path / records[1]["features"]).write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(FeatureFileError, match=r"001-x.mp4.npy: not a readable .npy file \(") as caught:
        vidkit.features.load(tmp_path)
    assert "\n" not in str(caught.value)


def test_a_file_that_is_not_what_its_record_says_is_named(tmp_path):
    records = _extract_output(tmp_path, _arrays())
    _index(tmp_path, [{**records[0], "shape": [4, 5]}])
    with pytest.raises(
        FeatureFileError, match=r"000-x.mp4.npy: holds features of shape \[3, 5\], the index says \[4, 5\]"
    ):
        vidkit.features.load(tmp_path)
    _index(tmp_path, [{**records[0], "dtype": "float32"}])
    with pytest.raises(FeatureFileError, match=r"000-x.mp4.npy: holds float16, the index says float32"):
        vidkit.features.load(tmp_path)
    _index(tmp_path, [{**records[0], "windows": [[0, 1]]}])
    with pytest.raises(FeatureFileError, match=r"000-x.mp4.npy: 3 windows of features, the index gives 1 times"):
        vidkit.features.load(tmp_path)
    _index(tmp_path, [{**records[0], "features": "../elsewhere.npy"}])
    with pytest.raises(FeatureFileError, match=r"index.jsonl: the record for clips/a/x.mp4 names no features file"):
        vidkit.features.load(tmp_path)


def test_the_index_a_killed_run_left_reads_and_a_bad_line_is_named(tmp_path):
    records = _extract_output(tmp_path, _arrays())
    _index(tmp_path, records[:2], tail=b'{"path": "clips/c.webm", "feat')  # cut by a kill
    assert vidkit.features.load(tmp_path).paths == ["clips/a/x.mp4", "clips/b/x.mp4"]

    _index(tmp_path, records[:1], tail=b"not json\n" + json.dumps(records[2]).encode() + b"\n")
    with pytest.raises(FeatureFileError) as caught:
        vidkit.features.load(tmp_path)
    assert str(caught.value) == f"{tmp_path}/index.jsonl:2: not a vidkit extract record"

    (tmp_path / "index.jsonl").unlink()
    with pytest.raises(
        FeatureFileError, match=r"index.jsonl: no such file \(is this a vidkit extract --out folder\?\)"
    ):
        vidkit.features.load(tmp_path)


def test_a_name_that_is_not_utf8_comes_back_exact(tmp_path):
    odd = os.fsdecode(b"clips/caf\xe9.mp4")  # Latin-1 bytes: not UTF-8
    records = _extract_output(tmp_path, {"clips/cafe.mp4": np.zeros((1, 3), np.float32)})
    record = {**records[0], "path": "clips/caf\ufffd.mp4", "path_b64": base64.b64encode(os.fsencode(odd)).decode()}
    _index(tmp_path, [record])
    assert vidkit.features.load(tmp_path).paths == [odd]


def test_a_later_record_of_an_input_counts(tmp_path):
    records = _extract_output(tmp_path, _arrays())
    _index(tmp_path, [{**records[0], "error": "the decoder crashed (signal 11)", "features": None}, *records])
    loaded = vidkit.features.load(tmp_path)
    assert loaded.paths == ["clips/a/x.mp4", "clips/b/x.mp4", "clips/c.webm"] and loaded.errors == {}


# -- sequences of local features, and attention clusters trained on them ---------------------------
def _written(out, inputs: dict, *, layer: str = "temporal") -> None:
    """``out`` as ``vidkit extract`` leaves it, the features stored by the library's own writer."""
    writer = NpyWriter(out)
    records = []
    for path, array in inputs.items():
        windows = [[1.0 * i, 1.0 * i + 1] for i in range(len(array))]
        record = {"path": path, "features": None, "rows": None, "shape": None, "windows": windows, "layer": layer}
        records += writer.add({**record, "dtype": str(array.dtype), "error": None}, array)
    _index(out, records)


def _toy(n_per_class: int, seed: int, *, width: int = 8, frames: int = 10) -> dict:
    """Three classes told apart by one frame among ``frames`` of noise: that frame is near the class's
    prototype. The mean over frames dilutes it ten times into the noise; an attention unit can pick it out."""
    rng = np.random.default_rng(seed)
    prototypes = 3 * np.eye(3, width)
    made = {}
    for c, name in enumerate(("a", "b", "c")):
        for i in range(n_per_class):
            x = rng.standard_normal((1, frames, width)).astype(np.float32)  # [windows, T', D]
            x[0, rng.integers(frames)] = prototypes[c] + 0.3 * rng.standard_normal(width)
            made[f"clips/{name}/{seed}-{i}.mp4"] = x
    return made


def test_sequences_flatten_windows_and_frames_and_a_pooled_output_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    made = {"v/a/x.mp4": rng.standard_normal((2, 3, 5)).astype(np.float32), "v/b/y.mp4": np.ones((1, 4, 5), "f4")}
    _written(tmp_path / "t", made)
    loaded = vidkit.features.load(tmp_path / "t")
    sequences = loaded.sequences()
    assert [s.shape for s in sequences] == [(6, 5), (4, 5)]
    np.testing.assert_array_equal(sequences[0][3:], made["v/a/x.mp4"][1])  # window 1's frames, in order
    assert loaded.file(1).parent == tmp_path / "t" / "features"

    _written(tmp_path / "p", {"v/a/x.mp4": np.ones((1, 5), "f4"), "v/b/y.mp4": np.ones((1, 5), "f4")}, layer="pooled")
    with pytest.raises(FeatureFileError) as caught:
        vidkit.features.load(tmp_path / "p").sequences()
    assert str(caught.value).startswith(
        f"{tmp_path}/p/index.jsonl: one feature vector per video (pooled features of one window): no sequence "
        "to attend over; extract with --layer temporal"
    )


def test_widths_that_differ_are_one_line_naming_the_file(tmp_path):
    _written(tmp_path / "mixed", {"v/a/x.mp4": np.ones((1, 3, 5), "f4"), "v/b/y.mp4": np.ones((1, 3, 4), "f4")})
    mixed = vidkit.features.load(tmp_path / "mixed")
    with pytest.raises(FeatureFileError) as caught:
        mixed.sequences()
    assert str(caught.value) == f"{mixed.file(1)}: features 4 wide, {mixed.file(0)}'s 5 (another model?)"

    _written(tmp_path / "train", _toy(2, 0))
    _written(tmp_path / "val", {"v/a/x.mp4": np.ones((1, 3, 4), "f4")})
    train, val = vidkit.features.load(tmp_path / "train"), vidkit.features.load(tmp_path / "val")
    with pytest.raises(FeatureFileError) as caught:
        vidkit.features.fit_attention_clusters(train, val, epochs=1)
    assert str(caught.value) == (
        f"{val.file(0)}: features 4 wide, the training features' ({train.file(0)}) 8 (another model?)"
    )


def test_attention_clusters_learn_a_separable_toy_set(tmp_path):
    _written(tmp_path / "train", _toy(20, 0))
    _written(tmp_path / "val", _toy(10, 1))
    train, val = vidkit.features.load(tmp_path / "train"), vidkit.features.load(tmp_path / "val")
    state = torch.random.get_rng_state()
    kwargs = {"num_units": 4, "dropout": 0.0, "batch_size": 8, "lr": 1e-2}  # a 32-wide output: a larger step
    fit = vidkit.features.fit_attention_clusters(train, val, epochs=25, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state as it was
    assert fit.classes == ["a", "b", "c"] and len(fit.history) == 25 and fit.val_paths == val.paths
    assert fit.history[-1]["train_loss"] < 0.5 * fit.history[0]["train_loss"]
    assert fit.history[-1]["val_top1"] >= 0.9  # chance: 1/3
    logits = fit.predict(val)
    assert logits.shape == (30, 3)
    truth = torch.tensor([fit.classes.index(vidkit.features.class_folder(p)) for p in val.paths])
    assert float((logits.argmax(1) == truth).float().mean()) == pytest.approx(fit.history[-1]["val_top1"])
    again = vidkit.features.fit_attention_clusters(train, val, epochs=2, **kwargs)
    assert again.history == fit.history[:2]  # seeded


def test_without_val_a_stratified_share_is_held_out_and_unknown_classes_are_named(tmp_path):
    _written(tmp_path / "train", _toy(5, 0))
    train = vidkit.features.load(tmp_path / "train")
    fit = vidkit.features.fit_attention_clusters(train, val_fraction=0.2, epochs=1)
    assert sorted(vidkit.features.class_folder(p) for p in fit.val_paths) == ["a", "b", "c"]
    with pytest.raises(ConfigError, match=r"val_fraction=0: give the share of each class held out"):
        vidkit.features.fit_attention_clusters(train, val_fraction=0, epochs=1)

    _written(tmp_path / "val", {"v/d/x.mp4": np.ones((1, 3, 8), "f4")})
    with pytest.raises(ConfigError) as caught:
        vidkit.features.fit_attention_clusters(train, vidkit.features.load(tmp_path / "val"), epochs=1)
    assert str(caught.value) == f"v/d/x.mp4: class 'd' is not among the 3 classes of {tmp_path}/train (a, b, c)"
