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


def test_the_papers_networks_look_at_the_frames_asked_and_uniform_at_all_25(load_tool, tmp_path):
    bench = load_tool("bench_adaframe")
    [path] = bench.videos((32, 48), 1, tmp_path, [25])[25]
    lookers = bench.paper_lookers(2)
    assert list(lookers) == ["AdaFrame, 2 looks", "uniform-25"]
    ada, uni = (look_at(path) for look_at in lookers.values())
    assert ada.frames == 2 and ada.decoded == 16 + 2  # no early exit: exactly the looks asked, after the memory
    assert uni.frames == 25 and uni.decoded == 25
