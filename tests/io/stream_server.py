"""A video server for the live-source tests, run as a second process (a PyAV network writer and its
reader in two threads of one process deadlock):

    python stream_server.py tcp PORT CLIP [--realtime] [--cut-after N] [--times K]
    python stream_server.py udp PORT CLIP [--realtime] [--times K]
    python stream_server.py fifo PATH CLIP [--realtime]
    python stream_server.py stall PORT        # accepts connections and never sends a byte

It remuxes CLIP's video packets (no re-encoding) into MPEG-TS and sends them over 127.0.0.1, at the
clip's own rate with ``--realtime``; ``--cut-after N`` closes the connection after N packets (a stream cut
mid-way); ``--times K`` serves K connections (tcp) or sends the clip K times (udp). It prints ``ready``
once it listens (tcp, stall) or starts sending.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time


def _send(url: str, clip: str, *, realtime: bool, cut_after: int | None, options: dict | None = None) -> None:
    import av

    source = av.open(clip)
    video = source.streams.video[0]
    out = av.open(url, "w", format="mpegts", options=options or {})
    stream = out.add_stream_from_template(video)
    started, sent = time.monotonic(), 0
    first = None
    try:
        for packet in source.demux(video):
            if packet.dts is None:
                continue
            if realtime and packet.pts is not None:
                t = float(packet.pts * video.time_base)
                first = t if first is None else first
                delay = started + (t - first) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            packet.stream = stream
            out.mux(packet)
            sent += 1
            if cut_after is not None and sent >= cut_after:
                break
    finally:
        out.close()
        source.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("protocol", choices=("tcp", "udp", "fifo", "stall"))
    parser.add_argument("where")
    parser.add_argument("clip", nargs="?")
    parser.add_argument("--realtime", action="store_true")
    parser.add_argument("--cut-after", type=int)
    parser.add_argument("--times", type=int, default=1)
    args = parser.parse_args()
    if args.protocol == "stall":
        server = socket.create_server(("127.0.0.1", int(args.where)))
        print("ready", flush=True)
        held = []
        while True:
            connection, _ = server.accept()
            held.append(connection)  # open, silent
    if args.protocol == "fifo":
        print("ready", flush=True)
        _send(args.where, args.clip, realtime=args.realtime, cut_after=args.cut_after)
        return
    for k in range(args.times):
        if args.protocol == "tcp":
            if k == 0:
                print("ready", flush=True)  # av.open below listens, then waits for the reader
            url = f"tcp://127.0.0.1:{args.where}?listen=1"
            _send(url, args.clip, realtime=args.realtime, cut_after=args.cut_after if k == 0 else None)
        else:
            if k == 0:
                print("ready", flush=True)
            url = f"udp://127.0.0.1:{args.where}?pkt_size=1316"
            _send(url, args.clip, realtime=args.realtime, cut_after=args.cut_after)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(0)
