"""tools/bench_adaframe.py: the videos it times on, re-encoded with the keyframe intervals asked for."""

import av


def test_the_long_variant_is_rendered_at_the_size_asked_and_reencoded_per_keyframe_interval(load_tool, tmp_path):
    bench = load_tool("bench_adaframe")
    made = bench.videos((32, 48), 2, tmp_path, [10, 125])
    assert sorted(made) == [10, 125] and all(len(paths) == 2 for paths in made.values())
    for gop, paths in made.items():
        with av.open(str(paths[0])) as container:
            stream = container.streams.video[0]
            assert (stream.height, stream.width) == (32, 48)
            keys = sum(packet.is_keyframe for packet in container.demux(stream) if packet.size)
        assert keys == 250 // gop
    before = paths[0].stat().st_mtime_ns
    bench.videos((32, 48), 2, tmp_path, [125])
    assert paths[0].stat().st_mtime_ns == before  # made once, then re-used
