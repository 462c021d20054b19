"""The one folder walk (vidkit.io.walk): video by extension in any case or by a glob, hidden entries
skipped, symlinked folders followed but never one real folder twice (a link loop ends), dangling links
kept only when asked for, unreadable folders skipped; and find_videos over files, folders and lists."""

import os

import pytest

from vidkit.io import VIDEO_EXTENSIONS, find_videos, is_video_name, walk_videos


def _touch(*paths):
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # the walk looks at names and kinds of entries, never at the contents


def _names(paths, root):
    return [os.path.relpath(p, root) for p in paths]


@pytest.fixture
def library(tmp_path):
    """``(root, expected)``: a folder like the one ``vidkit tag`` is tested on, and what find_videos takes."""
    root = tmp_path / "library"
    videos = [
        "a.mp4",
        "nested/deeper/b.mkv",
        "nested/c.webm",
        "nested/d.avi",
        "Holiday Clip UPPER.MP4",
        "vidéos/été à la plage.mp4",
        "bad/empty.mp4",
    ]
    _touch(*(root / v for v in videos))
    os.symlink(root / "bad" / "gone.mp4", root / "bad" / "dangling.mp4")
    (root / "bad" / "folder.mp4").mkdir()  # a folder named like a video is not an input
    (root / "readme.txt").write_text("not listed: not a video extension")
    return root, sorted([*(str(root / v) for v in videos), str(root / "bad" / "dangling.mp4")])


def test_find_videos_takes_extensions_case_insensitively_and_keeps_dangling_links(library):
    root, expected = library
    assert find_videos([root]) == expected
    assert find_videos([root], glob="*.MP4") == [str(root / "Holiday Clip UPPER.MP4")]


def test_is_video_name_by_extension_in_any_case():
    assert ".mp4" in VIDEO_EXTENSIONS and ".3gp" in VIDEO_EXTENSIONS
    assert is_video_name("a.MP4") and is_video_name("dir.x/b.webm") and is_video_name(".hidden.mkv")
    assert not is_video_name("notes.txt") and not is_video_name("mp4") and not is_video_name("a.mp4.part")


def test_entries_that_are_not_files_kept_only_when_asked(library):
    root, expected = library
    dangling = str(root / "bad" / "dangling.mp4")
    assert walk_videos(root, non_files=True) == expected
    assert walk_videos(root) == [p for p in expected if p != dangling]
    os.symlink("itself.mp4", root / "itself.mp4")  # a link to itself: neither file nor folder, like a dangling one
    os.mkfifo(root / "pipe.mp4")  # a job must record it as not a regular file, never block reading it
    assert {str(root / "itself.mp4"), str(root / "pipe.mp4")} <= set(walk_videos(root, non_files=True))
    assert {str(root / "itself.mp4"), str(root / "pipe.mp4")} <= set(find_videos([root]))
    assert not {str(root / "itself.mp4"), str(root / "pipe.mp4")} & set(walk_videos(root))


def test_hidden_files_and_folders_are_skipped(tmp_path):
    _touch(tmp_path / "seen.mp4", tmp_path / ".hidden.mp4", tmp_path / ".cache" / "x.mp4", tmp_path / "d" / ".y.mkv")
    assert _names(walk_videos(tmp_path), tmp_path) == ["seen.mp4"]
    assert _names(find_videos([tmp_path], glob="*"), tmp_path) == ["seen.mp4"]


def test_glob_matches_the_relative_path_or_the_name(tmp_path):
    _touch(tmp_path / "cam1" / "day" / "a.MOV", tmp_path / "cam2" / "b.MOV", tmp_path / "c.mov", tmp_path / "d.dat")
    assert _names(walk_videos(tmp_path, glob="cam*/**/*.MOV"), tmp_path) == ["cam1/day/a.MOV"]
    assert _names(walk_videos(tmp_path, glob="*.MOV"), tmp_path) == ["cam1/day/a.MOV", "cam2/b.MOV"]
    assert _names(walk_videos(tmp_path, glob="*.dat"), tmp_path) == ["d.dat"]  # a glob takes any extension


def test_a_symlink_loop_ends(tmp_path):
    _touch(tmp_path / "a" / "x.mp4")
    os.symlink(tmp_path, tmp_path / "a" / "up")  # a -> up -> root -> a ...
    os.symlink(tmp_path / "a", tmp_path / "a" / "self")
    assert _names(walk_videos(tmp_path), tmp_path) == ["a/x.mp4"]


def test_a_symlinked_folder_is_followed_once(tmp_path):
    outside, root = tmp_path / "outside", tmp_path / "root"
    _touch(outside / "o.mp4", outside / "sub" / "s.mp4", root / "r" / "r.mp4")
    os.symlink(outside, root / "link_b")
    os.symlink(outside, root / "link_a")  # the same folder twice: walked once, through the first link by name
    os.symlink(outside / "sub", root / "link_c")  # a folder already walked through link_a
    os.symlink(root / "r", root / "alias")  # a folder of the tree itself: listed where it really is
    assert _names(walk_videos(root), root) == ["link_a/o.mp4", "link_a/sub/s.mp4", "r/r.mp4"]
    # the glob sees the path through the link
    assert _names(walk_videos(root, glob="link_a/s*/*.mp4"), root) == ["link_a/sub/s.mp4"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_folder_is_skipped(tmp_path):
    _touch(tmp_path / "ok.mp4", tmp_path / "locked" / "x.mp4")
    (tmp_path / "locked").chmod(0)
    try:
        assert _names(walk_videos(tmp_path), tmp_path) == ["ok.mp4"]
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_find_videos_takes_files_folders_and_lists(tmp_path):
    _touch(tmp_path / "dir" / "a.mp4", tmp_path / "b.mkv", tmp_path / "notes.dat")
    listing = tmp_path / "todo.txt"
    listing.write_text("# a comment\n\nb.mkv\ndir/a.mp4\nmissing.mp4\n")
    assert find_videos([tmp_path / "dir", tmp_path / "notes.dat", listing, tmp_path / "dir" / "a.mp4"]) == [
        str(tmp_path / "b.mkv"),
        str(tmp_path / "dir" / "a.mp4"),  # once, though named three times
        str(tmp_path / "missing.mp4"),  # named, so it gets a result saying it is not there
        str(tmp_path / "notes.dat"),  # a file given is taken whatever its extension
    ]
    assert walk_videos(tmp_path / "nowhere") == []


def test_a_list_file_holding_a_name_that_is_not_utf8(tmp_path):
    raw = os.fsencode(tmp_path) + b"/clip-\xff.mp4"
    open(raw, "wb").close()
    listing = tmp_path / "todo.txt"
    listing.write_bytes(b"# names as bytes\n" + raw + b"\nplain.mp4\n")
    found = find_videos([listing])
    assert [os.fsencode(p) for p in found] == [raw, os.fsencode(tmp_path / "plain.mp4")]  # the exact name
    assert os.path.isfile(found[0])


def test_every_video_extension_is_found_and_every_other_file_accounted_for(video_zoo):
    from vidkit.io.walk import skipped_summary

    folder, kinds = video_zoo
    skipped: list[tuple[str, str]] = []
    found = {os.path.basename(p) for p in walk_videos(folder, skipped=skipped)}
    assert found == {name for name, kind in kinds.items() if kind in ("video", "raw")}
    reasons = {os.path.basename(p): reason for p, reason in skipped}
    assert reasons == {
        "app.ts": "a .ts file that is not MPEG-TS (TypeScript?)",
        "clip_noext": "no extension",
        "meta.json": "not a video extension (.json)",
        "notes.txt": "not a video extension (.txt)",
        "still.jpg": "not a video extension (.jpg)",
        "still.png": "not a video extension (.png)",
        "subs.srt": "not a video extension (.srt)",
    }
    assert skipped_summary(skipped) == "skipped 7 files: (none) 1, .jpg 1, .json 1, .png 1, .srt 1, .ts 1, .txt 1"
    assert skipped_summary(skipped, kinds=2) == "skipped 7 files: (none) 1, .jpg 1, and 5 of 5 other kinds"
    assert skipped_summary([]) == ""
