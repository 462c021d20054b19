"""The files of a synthetic set: their names, the annotation files, encoding, the manifest, and
building or repairing a set; the caller holds the folder's lock (see ``vidkit.data.synthetic``
for the layout)."""

from __future__ import annotations

import concurrent.futures
import json
import math
import multiprocessing
import sys
from pathlib import Path

from vidkit.data._synthetic_plan import plan_video, render_background, render_frames, video_id
from vidkit.data._synthetic_spec import GENERATOR_VERSION, SPLITS, SyntheticSpec
from vidkit.io.encode import write_video
from vidkit.utils import DEFAULT_FILE_MODE, atomic_write_text, default_workers, file_digest


def video_relpath(spec: SyntheticSpec, label: int | None, split: str, index: int) -> str:
    """Path of a video inside the set: Kinetics-style under its class, or flat for actors (``label=None``)."""
    vid = video_id(spec, split, index)
    if spec.variant == "actors":
        return f"{split}/{vid}.mp4"
    end = math.ceil(spec.duration_s - 1e-9)
    return f"{split}/{spec.classes[label]}/{vid}_{0:06d}_{end:06d}.mp4"


def expected_files(spec: SyntheticSpec) -> dict[str, tuple[str, int] | None]:
    """Every file of the set: video paths map to ``(split, index)``, annotation files to None."""
    files: dict[str, tuple[str, int] | None] = {}
    for split in SPLITS:
        for index in range(spec.num_videos(split)):
            label = None if spec.variant == "actors" else index % len(spec.classes)
            files[video_relpath(spec, label, split, index)] = (split, index)
    if spec.variant == "actors":
        names = ["ava_train.csv", "ava_val.csv", "ava_action_list.pbtxt"]
    else:
        names = ["train.csv", "val.csv"]
    for name in names + ["classes.txt"]:
        files[name] = None
    return files


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.6f}".rstrip("0").rstrip(".")


def _annotation_text(spec: SyntheticSpec, name: str) -> str:
    """The content of annotation file ``name``; deterministic from the spec (no pixels needed)."""
    if name == "classes.txt":
        return "".join(f"{c}\n" for c in spec.classes)
    if name == "ava_action_list.pbtxt":
        return "".join(
            f'label {{\n  name: "{c}"\n  label_id: {i + 1}\n  label_type: PERSON_MOVEMENT\n}}\n'
            for i, c in enumerate(spec.classes)
        )
    split = name.removeprefix("ava_").removesuffix(".csv")
    lines = []
    if spec.variant == "actors":
        # AVA: no header; keyframes at whole seconds 1, 2, ... inside the clip (0 has no past context);
        # boxes normalised to [0, 1]; action ids 1-based; person id = drawing order.
        height, width = spec.size
        keyframes = [s for s in range(1, math.floor(spec.duration_s) + 1) if round(s * spec.fps) < spec.frames]
        for index in range(spec.num_videos(split)):
            plan = plan_video(spec, split=split, index=index)
            boxes = [sprite.boxes() for sprite in plan.sprites]
            for s in keyframes:
                t = round(s * spec.fps)
                for person, label in enumerate(plan.labels):
                    x1, y1, x2, y2 = boxes[person][t]
                    box = (
                        min(max(x1 / width, 0.0), 1.0),
                        min(max(y1 / height, 0.0), 1.0),
                        min(max(x2 / width, 0.0), 1.0),
                        min(max(y2 / height, 0.0), 1.0),
                    )
                    lines.append(
                        f"{plan.video_id},{s:04d},{box[0]:.4f},{box[1]:.4f},{box[2]:.4f},{box[3]:.4f},"
                        f"{label + 1},{person}"
                    )
        return "".join(f"{line}\n" for line in lines)
    header = "label,youtube_id,time_start,time_end,split"
    if spec.variant == "long":
        header += ",evidence_start_s,evidence_end_s"
    end = math.ceil(spec.duration_s - 1e-9)
    for index in range(spec.num_videos(split)):
        row = f"{spec.classes[index % len(spec.classes)]},{video_id(spec, split, index)},0,{end},{split}"
        if spec.variant == "long":
            a, b = plan_video(spec, split=split, index=index).evidence_frames
            row += f",{_fmt_s(a / spec.fps)},{_fmt_s(b / spec.fps)}"
        lines.append(row)
    return "".join(f"{line}\n" for line in [header] + lines)


def _encoder_options(spec: SyntheticSpec) -> dict[str, str]:
    # A fixed GOP of IBBP... (b-adapt=0, no scene cuts) so every file has I-, P- and B-frames. One
    # thread so the bitstream does not depend on the machine's core count, and no macroblock-tree
    # rate control: with it, x264 165 gives different bytes for the same frames from run to run on
    # small pictures (seen at 64x64), which would break the checksums in the manifest.
    return {
        "preset": "veryfast",
        "crf": str(spec.crf),
        "g": str(spec.gop),
        "bf": str(spec.b_frames),
        "threads": "1",
        "x264-params": "b-adapt=0:scenecut=0:mbtree=0",
    }


def _build_video(spec: SyntheticSpec, folder: str, relpath: str, split: str, index: int) -> str:
    """Render and encode one video to ``folder/relpath`` (atomically); runs in a worker process."""
    plan = plan_video(spec, split=split, index=index)
    path = write_video(
        Path(folder, relpath),
        render_frames(plan, render_background(spec, plan)),
        fps=spec.fps,
        options=_encoder_options(spec),
    )
    path.chmod(DEFAULT_FILE_MODE)  # write_video follows the umask; the cache is shared between users
    return relpath


def _read_manifest(folder: Path, spec: SyntheticSpec) -> dict | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    if manifest.get("params") != spec.params():
        return None
    return manifest


def _intact(path: Path, entry: dict | None, verify: str) -> bool:
    if entry is None:
        return False
    if verify == "none":
        return True
    try:
        if path.stat().st_size != entry.get("size"):
            return False
    except OSError:
        return False
    return verify != "checksum" or file_digest(path, "sha1") == entry.get("sha1")


def needs_work(folder: Path, spec: SyntheticSpec, expected: dict, verify: str) -> list[str]:
    """Files to (re)build. Without a manifest (first use, or a build that was interrupted), every
    file not yet on disk; files already there were written atomically by this same spec."""
    manifest = _read_manifest(folder, spec)
    if manifest is None:
        missing = [rel for rel in expected if not (folder / rel).is_file()]
        # Nothing missing but no manifest: the build stopped just before writing it; an empty
        # rebuild list still leads to the manifest being written.
        return missing or ["manifest.json"]
    return [rel for rel in expected if not _intact(folder / rel, manifest["files"].get(rel), verify)]


def generate(
    folder: Path, spec: SyntheticSpec, expected: dict, todo: list[str], *, progress: bool, workers: int | None
) -> None:
    """Build the files in ``todo`` (videos in parallel), then write the manifest.

    Damaged files are deleted first, so an interrupted repair leaves them missing, never trusted.
    A manifest already there stays during a repair and its entries are kept for the files not
    rebuilt: a file that passed a size check but was altered in place is still caught by a later
    ``verify="checksum"``. On a first build the manifest appears only at the end.
    """
    from tqdm.auto import tqdm

    previous = _read_manifest(folder, spec)
    previous = previous["files"] if previous else {}
    # Temporary files left by a killed writer (vidkit.utils.atomic_path names them ".<stem>.*").
    for stale in folder.rglob(".*"):
        if stale.is_file() and stale.name != ".lock":
            stale.unlink(missing_ok=True)
    todo = [rel for rel in todo if rel in expected]
    for rel in todo:
        (folder / rel).unlink(missing_ok=True)
    for rel in todo:
        if expected[rel] is None:
            atomic_write_text(folder / rel, _annotation_text(spec, rel), mode=DEFAULT_FILE_MODE)
    videos = [(rel, *expected[rel]) for rel in todo if expected[rel] is not None]
    workers = min(workers or default_workers(), len(videos))
    bar = tqdm(total=len(videos), desc=f"synthetic {spec.name}", unit="video", disable=None if progress else True)
    with bar:
        if workers <= 1:
            for rel, split, index in videos:
                _build_video(spec, str(folder), rel, split, index)
                bar.update()
        else:
            # Not fork: a child forked from a process that has run torch ops (a test session, a
            # notebook) can hang in its first array operation (seen under pytest). The fork server is
            # a clean process that imports this module once and forks the workers from there.
            context = multiprocessing.get_context("forkserver" if sys.platform.startswith("linux") else None)
            if sys.platform.startswith("linux"):
                context.set_forkserver_preload([__name__])
            pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
            try:
                futures = [
                    pool.submit(_build_video, spec, str(folder), rel, split, index) for rel, split, index in videos
                ]
                for future in concurrent.futures.as_completed(futures):
                    future.result()
                    bar.update()
            finally:
                pool.shutdown(cancel_futures=True)  # on an error, do not wait for the rest of the queue
    rebuilt = set(todo)
    files = {
        rel: previous[rel]
        if rel in previous and rel not in rebuilt
        else {"size": (folder / rel).stat().st_size, "sha1": file_digest(folder / rel, "sha1")}
        for rel in expected
    }
    manifest = {
        "name": spec.name,
        "generator_version": GENERATOR_VERSION,
        "params": spec.params(),
        "classes": list(spec.classes),
        "files": files,
    }
    atomic_write_text(
        folder / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n", mode=DEFAULT_FILE_MODE
    )
