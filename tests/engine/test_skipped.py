"""``<out>.skipped.json``: the list of files a folder run left out, written beside its output, never over
someone else's file, and gone when a later run skipped nothing."""

from __future__ import annotations

import json
import os

import pytest

from vidkit.engine.skipped import skipped_path, write_skipped

SKIPPED = [("/v/a.jpg", "not a video extension (.jpg)"), ("/v/b.JPG", "not a video extension (.jpg)")]


def test_the_list_says_what_was_left_out_and_why(tmp_path):
    out = tmp_path / "tags.jsonl"
    written = write_skipped(out, [*SKIPPED, ("/v/notes", "no extension")], job="tag")
    assert written == skipped_path(out) == str(tmp_path / "tags.jsonl.skipped.json")
    document = json.loads(open(written).read())
    assert (document["job"], document["count"]) == ("tag", 3)
    assert document["by_extension"] == {".jpg": 2, "(none)": 1}
    assert document["files"][2] == {"path": "/v/notes", "reason": "no extension"}


def test_a_folder_outputs_list_sits_beside_it(tmp_path):
    assert skipped_path(f"{tmp_path / 'fast'}{os.sep}") == str(tmp_path / "fast.skipped.json")


def test_a_later_run_that_skipped_nothing_removes_the_old_list(tmp_path):
    out = tmp_path / "tags.jsonl"
    write_skipped(out, SKIPPED, job="tag")
    assert write_skipped(out, [], job="tag") is None
    assert not os.path.exists(skipped_path(out))


@pytest.mark.parametrize("content", ["my notes\n", '{"about": "something else"}\n', "[1, 2]\n"])
def test_someone_elses_file_of_that_name_is_left_as_it_is(tmp_path, content):
    out = tmp_path / "tags.jsonl"
    theirs = tmp_path / "tags.jsonl.skipped.json"
    theirs.write_text(content)
    for skipped in (SKIPPED, []):
        with pytest.raises(FileExistsError, match="is not a list of skipped files vidkit wrote"):
            write_skipped(out, skipped, job="tag")
        assert theirs.read_text() == content


def test_a_symlink_of_that_name_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text("keep me\n")
    (tmp_path / "tags.jsonl.skipped.json").symlink_to(target)
    with pytest.raises(FileExistsError):
        write_skipped(tmp_path / "tags.jsonl", SKIPPED, job="tag")
    assert target.read_text() == "keep me\n"
