"""``vidkit eval`` of a run trained on a folder that ``vidkit train`` split: the run's own validation list,
not the whole folder (whose other videos the model trained on)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vidkit.data.catalog import open_catalog
from vidkit.data.split import split_folder
from vidkit.engine import EvalRequest, LoadedModel
from vidkit.engine.evaluation import open_eval_catalog


def _folder(root: Path) -> Path:
    for name, n in (("clap", 6), ("wave", 4)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            (root / name / f"v{i}.mp4").write_bytes(b"")
    return root


def _run(tmp_path: Path, folder: Path, **data) -> tuple[LoadedModel, str]:
    """A run directory holding ``best.pt`` (never read here) and ``splits/``, and the checkpoint as
    loaded: its config's data section records the split folder as ``annotations``."""
    run = tmp_path / "run"
    splits = split_folder(folder, out_dir=run / "splits", val_fraction=0.25, seed=0)
    config = {"data": {"name": "folder", "root": str(folder), "annotations": splits, **data}}
    loaded = LoadedModel(
        model=None, name="tsn_r18", path=str(run / "best.pt"), classes=None, config=config, sha256="0" * 64
    )
    return loaded, splits


def _keys(catalog) -> list[str]:
    return [e.key for e in catalog.entries]


def test_eval_uses_the_runs_val_list(tmp_path, capsys):
    folder = _folder(tmp_path / "videos")
    loaded, splits = _run(tmp_path, folder)
    val = open_catalog("folder", root=folder, annotations=splits, split="val")
    whole = open_catalog("folder", root=folder)
    assert len(val.entries) == 3 < len(whole.entries)
    for request in (
        EvalRequest(),
        EvalRequest(data="folder"),
        EvalRequest(split="validation"),
        EvalRequest(data="folder", data_root=str(folder)),
        EvalRequest(data="folder", data_root=str(folder / "clap" / "..")),  # the same folder, spelt otherwise
    ):
        catalog = open_eval_catalog(request.data or "folder", request, loaded)
        assert _keys(catalog) == _keys(val) and catalog.annotations == str(Path(splits) / "val.txt")
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"the run's val list {Path(splits) / 'val.txt'}" in err
    train = open_eval_catalog("folder", EvalRequest(split="train"), loaded)
    assert sorted(_keys(train) + _keys(val)) == sorted(_keys(whole))


def test_another_folder_or_own_lists_are_taken_as_given(tmp_path, capsys):
    folder = _folder(tmp_path / "videos")
    loaded, _ = _run(tmp_path, folder)
    other = _folder(tmp_path / "other")
    catalog = open_eval_catalog("folder", EvalRequest(data="folder", data_root=str(other)), loaded)
    assert _keys(catalog) == _keys(open_catalog("folder", root=other)) and catalog.annotations is None
    mine = split_folder(folder, out_dir=tmp_path / "mine", val_fraction=0.5, seed=3)
    request = EvalRequest(data="folder", data_root=str(folder), annotations=mine)
    catalog = open_eval_catalog("folder", request, loaded)  # the folder the run trained on, the user's lists
    assert catalog.annotations == str(Path(mine) / "val.txt")
    assert _keys(catalog) == _keys(open_catalog("folder", root=folder, annotations=mine))
    assert capsys.readouterr().err == ""


def test_a_moved_run_directory_finds_its_splits_beside_the_checkpoint(tmp_path, capsys):
    folder = _folder(tmp_path / "videos")
    loaded, splits = _run(tmp_path, folder)
    val = _keys(open_catalog("folder", root=folder, annotations=splits, split="val"))
    moved = tmp_path / "archive" / "run"
    moved.parent.mkdir()
    shutil.move(tmp_path / "run", moved)
    loaded = LoadedModel(**{**loaded.__dict__, "path": str(moved / "best.pt")})
    catalog = open_eval_catalog("folder", EvalRequest(), loaded)
    assert _keys(catalog) == val and catalog.annotations == str(moved / "splits" / "val.txt")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{splits} is gone" in err


def test_lists_gone_everywhere_is_said_and_the_folder_is_read_whole(tmp_path, capsys):
    folder = _folder(tmp_path / "videos")
    loaded, splits = _run(tmp_path, folder)
    shutil.rmtree(splits)
    catalog = open_eval_catalog("folder", EvalRequest(), loaded)
    assert _keys(catalog) == _keys(open_catalog("folder", root=folder))
    assert "warning: the run's split lists" in capsys.readouterr().err


@pytest.mark.parametrize("split", ["train", "val"])
def test_the_lists_are_those_split_folder_wrote(tmp_path, split):
    folder = _folder(tmp_path / "videos")
    loaded, splits = _run(tmp_path, folder)
    lines = (Path(splits) / f"{split}.txt").read_text().split("\n")[:-1]
    catalog = open_eval_catalog("folder", EvalRequest(split=split), loaded)
    assert [f"{e.key} {e.label}" for e in catalog.entries] == lines
