"""`vidkit extract --format parquet` as a user runs it: the shards read back through
``vidkit.features.load`` to the same features, windows and errors as the npy output of the same run."""

import numpy as np
import pytest
import torch

import vidkit.features
from vidkit.io.encode import write_video
from vidkit.models import build

ARGS = ["--workers", "1", "--num-frames", "4", "--interval-s", "0.1", "--crop-size", "32"]


def test_parquet_output_reads_back_as_the_npy_output(tmp_path, run_vidkit):
    pytest.importorskip("pyarrow.parquet", reason="the parquet extra (pyarrow) is not installed")
    torch.manual_seed(0)
    torch.save(build("c2d_r50", num_classes=4).state_dict(), tmp_path / "c2d.pt")
    g = torch.Generator().manual_seed(0)
    for name, frames in (("a.mp4", 12), ("b.mp4", 20)):
        write_video(
            tmp_path / "v" / name, torch.randint(0, 256, (frames, 32, 48, 3), dtype=torch.uint8, generator=g), fps=10
        )
    (tmp_path / "v" / "bad.mp4").write_bytes(b"not a video")
    common = ["--model", "c2d_r50", "--weights", tmp_path / "c2d.pt", *ARGS, "--segments", "1", "--stride", "0.5"]
    common += ["--layer", "temporal", "--keep-views", "--views", "2x1", "--dtype", "float16"]  # [W, views, T', D]
    loaded = {}
    for fmt in ("npy", "parquet"):
        done = run_vidkit(["extract", tmp_path / "v", "--out", tmp_path / fmt, "--format", fmt, *map(str, common)])
        assert done.returncode == 0, done.stderr
        loaded[fmt] = vidkit.features.load(tmp_path / fmt)

    npy, parquet = loaded["npy"], loaded["parquet"]
    assert sorted((tmp_path / "parquet").iterdir()) == [tmp_path / "parquet" / n for n in ("index.jsonl", "shards")]
    assert [p.name for p in (tmp_path / "parquet" / "shards").iterdir()] == ["part-00000.parquet"]
    assert parquet.paths == npy.paths == [str(tmp_path / "v" / n) for n in ("a.mp4", "b.mp4")]
    assert list(parquet.errors) == [str(tmp_path / "v" / "bad.mp4")] and parquet.errors == npy.errors
    for ours, theirs, times, reference in zip(parquet.arrays, npy.arrays, parquet.windows, npy.windows):
        assert ours.dtype == np.float16 and ours.ndim == 4 and ours.shape[1] == 2 and np.abs(ours).max() > 0
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(times, reference)
    assert all(len(a) > 1 for a in parquet.arrays)  # windows of 1 s every 0.5 s in 1.2 s and 2 s
    X, video, _ = parquet.stack()
    assert video.tolist() == [0] * len(parquet.arrays[0]) + [1] * len(parquet.arrays[1]) and len(X) == len(video)
