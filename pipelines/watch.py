"""``vidkit watch``: label a live source as it plays — a network stream, a pipe, a camera, or a file.

The composition: the model and its classes (:func:`vidkit.engine.inference.load_for_inference`, as
``vidkit tag``) → the source (:class:`vidkit.io.live.LiveReader`: timeouts, reconnects) → the
:class:`~vidkit.engine.watcher.Watcher` (sliding windows for clip models, frame-by-frame stepping for a
model that streams; bounded hand-over that drops the oldest when the model is slower than the source)
→ one JSON line per window in the events file (:class:`~vidkit.engine.event_log.EventLog`), and one per
drop and reconnect. Ctrl-C and SIGTERM end it cleanly: the windows already handed over are scored,
the file is closed on a whole line, the summary is printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from vidkit.errors import ConfigError
from vidkit.pipelines._videos import add_model_options, run_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="?",
        metavar="SOURCE",
        help="a URL (rtsp://, tcp://, udp://, http(s)://, rtmp:// …), - for standard input, a FIFO, a capture "
        "device (/dev/video0) or a file",
    )
    parser.add_argument("--protocols", action="store_true", help="list the protocols this FFmpeg reads, and exit")
    add_model_options(parser, classes=True)
    parser.add_argument(
        "--out",
        default="-",
        metavar="FILE",
        help="events file, JSON lines (appended to; locked while a run writes it); default - (standard output)",
    )
    parser.add_argument(
        "--draw",
        metavar="FILE.mp4",
        help="also write the stream with its labels drawn on (H.264 in fragmented MP4: it plays while it grows, "
        "and after any stop); must not exist",
    )
    parser.add_argument("--window", type=float, default=2.0, metavar="S", help="seconds a window covers (default 2)")
    parser.add_argument("--hop", type=float, default=0.5, metavar="S", help="a window every S seconds (default 0.5)")
    parser.add_argument(
        "--mode",
        choices=("auto", "windows", "stream"),
        default="auto",
        help="stream: step a streaming model (the causal TSM) frame by frame, the low-latency path; windows: a "
        "clip per window; auto (default): stream when the model can",
    )
    parser.add_argument(
        "--step",
        type=float,
        metavar="S",
        help="stream mode: feed a frame every S seconds of stream time (default: the model's frame interval)",
    )
    parser.add_argument("--top-k", type=int, default=5, help="labels per event (default 5)")
    parser.add_argument("--smooth", type=int, default=1, metavar="N", help="average the scores over N windows")
    parser.add_argument(
        "--realtime", action="store_true", help="play a file at its own frame rate (default: as fast as it decodes)"
    )
    parser.add_argument(
        "--drop",
        choices=("auto", "oldest", "block"),
        default="auto",
        help="when the model is slower than the source: oldest drops the oldest waiting window (counted), block "
        "makes the reading wait; auto (default): block for a file read as fast as it decodes, oldest otherwise",
    )
    parser.add_argument(
        "--queue",
        type=int,
        metavar="N",
        help="windows waiting for the model (default 1 when dropping: each event at most one model call old; "
        "4 when the reading waits)",
    )
    parser.add_argument("--max-seconds", type=float, metavar="S", help="stop after S seconds of stream time")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="longest wait for data (default 10)")
    parser.add_argument(
        "--reconnects",
        type=int,
        default=5,
        metavar="N",
        help="network streams and devices: give up after N failed attempts in a row (default 5; 0: end at a drop)",
    )
    parser.add_argument(
        "--format", metavar="NAME", help="the input format, when FFmpeg cannot tell (e.g. mpegts, h264, v4l2)"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an FFmpeg input option (repeatable), e.g. rtsp_transport=tcp",
    )
    parser.add_argument("--views", metavar="NxM", help="1xM: M crops per window (default 1x1)")
    parser.add_argument("--num-frames", type=int)
    parser.add_argument("--interval-s", type=float)
    parser.add_argument("--crop-size", type=int)
    parser.add_argument("--test-scale", type=int)
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass, when several wait")
    parser.add_argument("--device", default="auto", help="auto (default: cuda when there is one), cpu, cuda, cuda:1")


def run(args: argparse.Namespace) -> int:
    if args.protocols:
        return _list_protocols()
    from vidkit.pipelines.config import check_options

    if not args.source:
        raise ConfigError("name the SOURCE to watch (a URL, - for standard input, a FIFO, a device or a file)")
    check_options(
        args,
        at_least={"top_k": 1, "smooth": 1, "queue": 1, "reconnects": 0, "batch_size": 1, "num_frames": 1},
        above={"window": 0, "hop": 0, "step": 0, "timeout": 0, "max_seconds": 0, "interval_s": 0},
    )
    from vidkit.engine.event_log import EventLog, check_events_file
    from vidkit.engine.inference import load_for_inference
    from vidkit.engine.loop import resolve_precision
    from vidkit.engine.watcher import Watcher, can_stream
    from vidkit.io.live import LiveReader, parse_source

    started = time.monotonic()
    source = parse_source(args.source, format=args.format)
    options = _ffmpeg_options(args.option)
    if args.out != "-":
        from pathlib import Path

        check_events_file(Path(args.out))  # before the model loads: a wrong --out costs nothing
    _check_draw(args.draw, source)
    loaded, model, classes = load_for_inference(
        checkpoint=args.checkpoint, model=args.model, weights=args.weights, classes=args.classes
    )
    task = loaded.task
    task.check_watching(loaded)
    spec, _ = task.view_spec(
        loaded,
        views=args.views or "1x1",
        num_frames=args.num_frames,
        interval_s=args.interval_s,
        crop_size=args.crop_size,
        test_scale=args.test_scale,
    )
    if spec.num_clips != 1:
        raise ConfigError(f"--views {args.views}: a window is one clip; take 1xM (M crops)")
    stream = {"auto": can_stream(model), "stream": True, "windows": False}[args.mode]
    if stream and not can_stream(model):
        raise ConfigError(
            f"--mode stream: {loaded.name} does not stream frame by frame (a causal TSM does: "
            "tsm_r50 with shift=causal); use --mode windows"
        )
    device = run_device(args, task)
    precision = resolve_precision("auto", "auto", device)
    model = precision.place(model, device)
    drop = args.drop if args.drop != "auto" else ("block" if source.kind == "file" and not args.realtime else "oldest")
    log = EventLog(args.out)
    drawer = _Drawer(args.draw, top_k=args.top_k) if args.draw else None
    reader = LiveReader(
        source,
        short_side=spec.test_scale,
        timeout_s=args.timeout,
        realtime=args.realtime,
        reconnects=args.reconnects,
        options=options,
        picture=bool(args.draw),
        notify=lambda kind, message: _notice(log, kind, message, source.spec),
    )
    watcher = Watcher(
        reader,
        model,
        spec=spec,
        transform=task.test_transform(loaded),
        device=device,
        precision=precision,
        window_s=args.window,
        hop_s=args.hop,
        stream=stream,
        step_s=args.step,
        queue=args.queue,
        drop=drop,
        batch_size=args.batch_size,
        smooth=args.smooth,
        max_seconds=args.max_seconds,
        on_frame=drawer,
    )
    how = (
        f"a frame every {watcher.step_s:g} s stepped through the model"
        if stream
        else f"{spec.num_frames} frames every {spec.interval_s:g} s per window"
    )
    print(
        f"vidkit watch: {source.spec} ({source.kind}) with {loaded.name} ({len(classes)} classes) on {device}; "
        f"{args.window:g} s windows every {args.hop:g} s, {how}; when the model falls behind: "
        + ("the reading waits" if drop == "block" else "the oldest waiting window is dropped"),
        file=sys.stderr,
    )
    stopped_by = []

    def stop(signum, frame):  # noqa: ARG001 - a signal handler's signature
        stopped_by.append(signal.Signals(signum).name)
        watcher.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    error = None
    try:
        for event in watcher.run():
            record = _window_record(event, classes, args.top_k)
            log.write(record)
            if drawer is not None:
                drawer.update(record)
    except ConfigError:
        raise
    except Exception as e:  # the source gave up: said in the file and the summary, then the exit code
        from vidkit.errors import VideoDecodeError

        if not isinstance(e, VideoDecodeError):
            raise
        error = str(e)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            log.write(_end_record(watcher, reader, error, stopped_by))
        finally:
            log.close()
            if drawer is not None:
                drawer.close()
    _summary(watcher, reader, error, stopped_by, out=args.out, seconds=time.monotonic() - started)
    return 1 if error else 0


def _check_draw(path: str | None, source) -> None:
    if path is None:
        return
    if not path.lower().endswith(".mp4"):
        raise ConfigError(f"--draw {path}: vidkit watch draws into MP4; name it *.mp4")
    if os.path.lexists(path):
        what = "the source itself" if source.kind == "file" and os.path.samefile(path, source.url) else "exists"
        raise ConfigError(f"--draw {path}: {what}; left unchanged, choose a new name")


class _Drawer:
    """``vidkit watch --draw``: each frame with the last window's labels and the recent windows drawn on,
    written as it comes (:class:`vidkit.io.redraw.StreamWriter`)."""

    def __init__(self, path: str, *, top_k: int):
        from vidkit.io.redraw import StreamWriter

        self.writer = StreamWriter(path)
        self.top_k = top_k
        self.overlay = None

    def __call__(self, frame) -> None:  # in the reading thread
        from vidkit.viz import LiveOverlay

        if self.overlay is None:
            height, width = frame.picture.shape[:2]
            self.overlay = LiveOverlay(height=height, width=width, top_k=self.top_k)
        self.overlay(frame.picture, frame.time_s)
        self.writer.write(frame.picture, frame.time_s)

    def update(self, record: dict) -> None:  # as windows are scored
        if self.overlay is not None:
            labels = [(entry["label"], entry["score"]) for entry in record["labels"]]
            self.overlay.update(record["start_s"], record["end_s"], labels)

    def close(self) -> None:
        self.writer.close()


def _ffmpeg_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair}: expected KEY=VALUE, e.g. rtsp_transport=tcp")
        options[key] = value
    return options


def _list_protocols() -> int:
    from vidkit.io.live import input_protocols, network_formats

    print("protocols FFmpeg here reads (URL schemes):")
    print("  " + " ".join(input_protocols()))
    print("formats addressed as URLs: " + " ".join(f"{name}://" for name in network_formats()))
    print("tested in vidkit's CI: tcp, udp, http, pipe (- and FIFOs), file; a capture device's error path only")
    return 0


def _window_record(event, classes: list[str], top_k: int) -> dict:
    from vidkit.engine.results import top_labels

    return {
        "type": "window",
        "start_s": round(event.start_s, 6),
        "end_s": round(event.end_s, 6),
        "wall_time": round(event.wall_time, 3),
        "latency_s": round(event.latency_s, 4),
        "frames": event.frames,
        "labels": top_labels(event.scores, classes, top_k),
    }


def _notice(log, kind: str, message: str, source: str) -> None:
    print(f"vidkit watch: {source}: {message}", file=sys.stderr)
    log.write({"type": kind, "wall_time": round(time.time(), 3), "message": message})


def _counts(watcher, reader) -> dict:
    stats = reader.stats
    return {
        "frames": stats.frames,
        "windows": watcher.windows,
        "dropped": watcher.handoff.dropped,
        "disconnects": stats.disconnects,
        "reconnects": max(0, stats.connections - 1),
        "corrupt_packets": stats.corrupt_packets,
        "peak_frames_held": watcher.peak_frames,
    }


def _end_record(watcher, reader, error: str | None, stopped_by: list[str]) -> dict:
    reason = error or _how(watcher, error, stopped_by)
    return {"type": "end", "wall_time": round(time.time(), 3), "reason": reason, **_counts(watcher, reader)}


def _how(watcher, error: str | None, stopped_by: list[str]) -> str:
    if stopped_by:
        return f"stopped by {stopped_by[0]}"
    if error:
        return "gave up"
    return "--max-seconds reached" if watcher.reached_max else "the source ended"


def _summary(watcher, reader, error, stopped_by, *, out: str, seconds: float) -> None:
    c = _counts(watcher, reader)
    how = _how(watcher, error, stopped_by)
    lines = [
        f"\nvidkit watch: {how}; {c['windows']} windows from {c['frames']} frames in {seconds:.1f} s",
        f"  events       {out}",
        f"  dropped      {c['dropped']} (waiting for the model); frames held at most {c['peak_frames_held']}",
    ]
    if c["disconnects"] or c["reconnects"]:
        lines.append(f"  drops        {c['disconnects']}, reconnected {c['reconnects']} times")
    if error:
        lines.append(f"  error        {error}")
    print("\n".join(lines), file=sys.stderr)


__all__ = ["add_arguments", "run"]
