"""``--format parquet``'s writer: shards of one row per window, written whole or not at all, numbered on
across runs, read back by ``vidkit.features.load``; and the one line a missing pyarrow gives."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vidkit.features
from vidkit.engine.feature_parquet import NEEDS_PYARROW, ParquetWriter, read_shard
from vidkit.errors import ConfigError
from vidkit.features import FeatureFileError


@pytest.fixture
def pq():
    return pytest.importorskip("pyarrow.parquet", reason="the parquet extra (pyarrow) is not installed")


def _record(path: str, windows: int, **extra) -> dict:
    return {"path": path, "features": None, "rows": None, "windows": [[i, i + 1.5] for i in range(windows)], **extra}


def _features(windows: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((windows, *shape)).astype(np.float32)


def _write_index(out, records) -> None:
    with open(out / "index.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def _shards(out) -> list[str]:
    return sorted(p.name for p in (out / "shards").iterdir())


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("shape", [(6,), (3, 6), (2, 4, 6)], ids=["D", "views-D", "views-T-D"])
def test_features_read_back_through_load(pq, tmp_path, dtype, shape):
    writer = ParquetWriter(tmp_path, dtype=dtype, rows_per_shard=5)
    made, index = {}, []
    for number, windows in enumerate([3, 1, 4, 2]):
        path = f"clips/v{number}.mp4"
        made[path] = _features(windows, shape, number)
        index += writer.add(_record(path, windows, model="m"), made[path])
    index += writer.close()
    _write_index(tmp_path, index + [{**_record("clips/bad.mp4", 0), "error": "no video stream"}])

    assert _shards(tmp_path) == ["part-00000.parquet", "part-00001.parquet"]  # 3+1+4 rows, then 2
    loaded = vidkit.features.load(tmp_path)
    assert loaded.paths == list(made)
    assert loaded.errors == {"clips/bad.mp4": "no video stream"}
    for path, array, times, record in zip(loaded.paths, loaded.arrays, loaded.windows, loaded.records):
        assert array.dtype == np.dtype(dtype)
        assert array.shape == made[path].shape
        np.testing.assert_array_equal(array, made[path].astype(dtype))
        np.testing.assert_array_equal(times, [[i, i + 1.5] for i in range(len(made[path]))])
        assert record["shape"] == list(made[path].shape) and record["dtype"] == dtype and record["model"] == "m"
    _, _, stored = read_shard(tmp_path / "shards/part-00000.parquet")
    assert stored.shape == (8, *shape)  # the flattened window's shape came back from the schema
    X, video, times = loaded.stack()
    assert X.shape == (10, *shape) and video.tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 3, 3]
    np.testing.assert_array_equal(times[3], [0, 1.5])


def test_records_come_back_only_once_their_shard_is_on_disk(pq, tmp_path):
    writer = ParquetWriter(tmp_path, rows_per_shard=5)
    first = _record("a.mp4", 3)
    assert writer.add(first, _features(3, (4,), 0)) == []
    assert _shards(tmp_path) == []
    done = writer.add(_record("b.mp4", 2), _features(2, (4,), 1))
    assert [(r["path"], r["features"], r["rows"]) for r in done] == [
        ("a.mp4", "shards/part-00000.parquet", [0, 3]),
        ("b.mp4", "shards/part-00000.parquet", [3, 5]),
    ]
    assert _shards(tmp_path) == ["part-00000.parquet"]
    assert first["features"] is None and first["rows"] is None  # the caller's record is not changed
    assert writer.close() == []  # nothing pending
    paths, times, _ = read_shard(tmp_path / "shards/part-00000.parquet")
    assert paths == ["a.mp4"] * 3 + ["b.mp4"] * 2
    np.testing.assert_array_equal(times[:, 0], [0, 1, 2, 0, 1])


def test_a_video_is_never_split_and_a_new_window_shape_starts_a_shard(pq, tmp_path):
    writer = ParquetWriter(tmp_path, rows_per_shard=2)
    done = writer.add(_record("long.mp4", 5), _features(5, (4,), 0))
    assert [r["rows"] for r in done] == [[0, 5]]
    assert writer.add(_record("a.mp4", 1), _features(1, (4,), 1)) == []
    done = writer.add(_record("b.mp4", 1), _features(1, (2, 4), 2))  # another shape: a.mp4's shard is closed
    assert [(r["path"], r["features"]) for r in done] == [("a.mp4", "shards/part-00001.parquet")]
    assert [(r["path"], r["features"], r["shape"]) for r in writer.close()] == [
        ("b.mp4", "shards/part-00002.parquet", [1, 2, 4])
    ]


def test_a_write_that_fails_leaves_no_shard(pq, tmp_path, monkeypatch):
    def write_half_then_fail(table, where, **kwargs):
        with open(where, "wb") as f:
            f.write(b"PAR1 half a shard")
        raise OSError(28, "No space left on device")

    writer = ParquetWriter(tmp_path, rows_per_shard=1)
    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        writer.add(_record("a.mp4", 1), _features(1, (4,), 0))
    assert _shards(tmp_path) == []  # neither under the final name nor as a temporary


_KILLED_WHILE_WRITING = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    import pyarrow.parquet as pq
    from vidkit.engine.feature_parquet import ParquetWriter

    original = pq.write_table
    def write_then_die(table, where, **kwargs):  # killed after the bytes, before the rename
        original(table, where, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    pq.write_table = write_then_die
    writer = ParquetWriter(sys.argv[1], rows_per_shard=1)
    writer.add({"path": "a.mp4", "windows": [[0, 1]]}, np.ones((1, 4), np.float32))
    """
)


def test_a_kill_mid_write_leaves_a_temporary_the_next_run_removes(pq, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_WHILE_WRITING, str(tmp_path)], capture_output=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    left = _shards(tmp_path)
    assert len(left) == 1 and left[0].startswith(".part-00000.") and left[0].endswith(".parquet")

    writer = ParquetWriter(tmp_path, rows_per_shard=1)
    assert _shards(tmp_path) == []
    assert writer.add(_record("a.mp4", 1), _features(1, (4,), 0))[0]["features"] == "shards/part-00000.parquet"


def test_a_rerun_numbers_on_and_overwrites_no_shard(pq, tmp_path):
    first = ParquetWriter(tmp_path, rows_per_shard=1)
    old = first.add(_record("a.mp4", 1), _features(1, (4,), 0)) + first.add(_record("b.mp4", 1), _features(1, (4,), 1))
    before = {name: (tmp_path / "shards" / name).read_bytes() for name in _shards(tmp_path)}
    assert list(before) == ["part-00000.parquet", "part-00001.parquet"]

    # the first run was killed after its shards were renamed, before b.mp4's record reached the index
    second = ParquetWriter(tmp_path, rows_per_shard=4)
    new = second.add(_record("b.mp4", 2), _features(2, (4,), 2)) + second.close()
    assert [r["features"] for r in new] == ["shards/part-00002.parquet"]
    assert {name: (tmp_path / "shards" / name).read_bytes() for name in before} == before

    _write_index(tmp_path, old[:1] + new)
    loaded = vidkit.features.load(tmp_path)
    assert loaded.paths == ["a.mp4", "b.mp4"]  # b.mp4's stray row in part-00001 is not read
    np.testing.assert_array_equal(loaded.arrays[1], _features(2, (4,), 2))


def test_a_record_names_a_missing_shard_or_rows_of_another_input(pq, tmp_path):
    writer = ParquetWriter(tmp_path, rows_per_shard=1)
    record = writer.add(_record("a.mp4", 2), _features(2, (4,), 0))[0]
    _write_index(tmp_path, [{**record, "rows": [1, 2], "windows": [[1, 2.5]], "shape": [1, 4]}])
    assert vidkit.features.load(tmp_path).arrays[0].shape == (1, 4)  # a record's own rows, no more

    _write_index(tmp_path, [{**record, "path": "b.mp4"}])
    with pytest.raises(FeatureFileError, match=r"part-00000.parquet: rows \[0, 2\) hold another input's features"):
        vidkit.features.load(tmp_path)

    (tmp_path / "shards/part-00000.parquet").unlink()
    _write_index(tmp_path, [record])
    with pytest.raises(FeatureFileError) as caught:
        vidkit.features.load(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}/shards/part-00000.parquet: no such file (the index's record for a.mp4 names it)"
    )


def test_a_corrupt_shard_is_named(pq, tmp_path):
    writer = ParquetWriter(tmp_path, rows_per_shard=1)
    record = writer.add(_record("a.mp4", 1), _features(1, (4,), 0))[0]
    _write_index(tmp_path, [record])
    (tmp_path / "shards/part-00000.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(FeatureFileError, match=r"part-00000.parquet: not a readable features shard \(") as caught:
        vidkit.features.load(tmp_path)
    assert "\n" not in str(caught.value)


def test_without_pyarrow_one_line_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ConfigError) as caught:
        ParquetWriter(tmp_path)
    assert str(caught.value) == NEEDS_PYARROW == "--format parquet needs pyarrow: pip install 'vidkit[parquet]'"
    assert not (tmp_path / "shards").exists()  # nothing made

    (tmp_path / "shards").mkdir()
    (tmp_path / "shards/part-00000.parquet").write_bytes(b"PAR1")
    _write_index(tmp_path, [{**_record("a.mp4", 1), "features": "shards/part-00000.parquet", "rows": [0, 1]}])
    with pytest.raises(ConfigError, match="needs pyarrow: pip install 'vidkit\\[parquet\\]'"):
        vidkit.features.load(tmp_path)


def test_vidkit_imports_without_pyarrow():
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "import vidkit.features, vidkit.engine.feature_parquet, vidkit.engine\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
