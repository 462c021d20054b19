"""AdaFrame as a clip sampler that works with the decoder: it decodes only the frames it chooses.

Training and batched evaluation give :class:`~vidkit.models.adaframe.AdaFrame` all of a video's
candidate frames at once (``[B, 3, T, H, W]``, one per TSN segment), and the model picks among them.
On a video file, :func:`look` asks the decoder for exactly the frames the policy wants, one step at
a time — first the global memory's 16 (scaled down on the device), then one frame per step until the
policy stops (the uniform baseline's frames, all known up front, in one pass) — from the same
candidate times, so it reaches the same decisions and logits as the batched path on the full set
(``tests/data/test_adaframe.py`` checks both)::

    with open_video(path, short_side=transform.test_scale) as video:
        seen = look(model, video, transform)       # seen.logits [C], seen.frames, seen.timestamps
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange

from vidkit.data.samplers import SegmentSampler
from vidkit.data.transforms import ClipTransform
from vidkit.io.reader import VideoReader

__all__ = ["Looked", "candidate_times", "look"]


@dataclass(frozen=True)
class Looked:
    """What :func:`look` did with one video: ``logits [C]`` at the step it stopped; ``timestamps`` of the
    frames its backbone looked at, in order; ``memory_timestamps`` of the global memory's frames;
    ``decoded``: the frames it asked the decoder for (memory and steps; a frame asked twice counts twice);
    ``decoder_frames``: the frames the decoder produced meanwhile, those it decoded only to reach an asked
    one included (from the keyframe before it) — None where the reader cannot tell."""

    logits: torch.Tensor
    timestamps: tuple[float, ...]
    memory_timestamps: tuple[float, ...]
    decoded: int

    snippet: int = 1
    decoder_frames: int | None = None

    @property
    def frames(self) -> int:
        """How many candidates (frames, or snippets) the backbone looked at."""
        return len(self.timestamps) // self.snippet


def candidate_times(video, num_candidates: int, *, snippet: int = 1, interval_s: float = 0.0) -> tuple[float, ...]:
    """The times of a video's ``num_candidates`` candidate frames: the centres of as many equal
    segments (what :class:`SegmentSampler` gives in test mode, and what the model was validated on),
    or ``snippet`` frames ``interval_s`` apart around each, candidate by candidate."""
    [plan] = SegmentSampler(num_segments=num_candidates, mode="test", snippet=snippet, interval_s=interval_s)(video)
    return plan.timestamps


@torch.no_grad()
def look(
    model,
    video: VideoReader,
    transform: ClipTransform,
    *,
    num_candidates: int = 25,
    interval_s: float = 0.0,
    device: torch.device | str = "cpu",
) -> Looked:
    """Run AdaFrame (``model``, in eval mode, on ``device``) over one open video, decoding only what it
    looks at. ``transform`` is the one it was validated with (its test-time scale and centre crop);
    ``interval_s`` the spacing of a snippet's frames, for a model whose candidates are snippets.
    ``timestamps`` and ``memory_timestamps`` then hold every frame of the snippets looked at."""
    from vidkit.models.adaframe import candidate_index, stack_snippet
    from vidkit.models.adaframe_policy import Episode

    device = torch.device(device)
    s = model.snippet
    times = candidate_times(video.info, num_candidates, snippet=s, interval_s=interval_s)
    decoded = 0
    counted = getattr(video, "frames_decoded", None)

    def frames_at(stamps: list[float]) -> torch.Tensor:
        nonlocal decoded
        decoded += len(stamps)
        frames = video.read_at(stamps)
        return transform(frames.data[None].to(device), train=False)  # [1, 3, n, crop, crop]

    def snippet_times(candidate: int) -> list[float]:
        return list(times[candidate * s : (candidate + 1) * s])

    memory_times = tuple(times[i * s + s // 2] for i in model.memory_indices(num_candidates))  # snippets' middles
    memory = model.memory(frames_at(list(memory_times))) if memory_times else None
    episode = Episode(model, memory, batch=1, num_candidates=num_candidates, device=device)
    looked: list[float] = []
    if model.policy == "uniform":  # every location is known up front: one pass over the file reads them all
        for i in candidate_index(model.uniform_locations(device), num_candidates).tolist():
            looked += snippet_times(i)
        frames = rearrange(frames_at(looked), "1 c (k s) h w -> k (s c) h w", s=s)
        features = model.features(frames)
        for k in range(len(features)):
            episode.observe(None, features=features[k : k + 1])
    else:
        while not episode.done:
            at = snippet_times(int(episode.choose()[0]))
            looked += at
            episode.observe(stack_snippet(frames_at(at)))
    decoder_frames = None if counted is None else video.frames_decoded - counted
    return Looked(episode.logits[0], tuple(looked), memory_times, decoded, s, decoder_frames)
