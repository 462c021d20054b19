"""RGB clip classification (``video``) and adaptive frame selection (``adaptive``, AdaFrame).

``video``: training clips at random times, validated on the centre clip; tested on multi-view clips
(:mod:`vidkit.engine.evaluation`), each file decoded once; files labelled from clips decoded in the
crash-isolated workers and batched across videos on the model's device.

``adaptive``: the model sees ``num_frames`` candidate frames spread over the whole video (one per TSN
segment: a random one in training, the centres in testing) and a policy picks which to look at. To
label a file, each worker runs the policy itself, on the CPU, decoding only the frames it looks at.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn as nn

from vidkit.engine.tasks._base import ClipSettings, EvalRequest, Task, TrainData, register_task
from vidkit.errors import ConfigError
from vidkit.utils import default_workers


@register_task("video")
class VideoClips(Task):
    """Clips of RGB frames a fixed interval apart; one label per clip."""

    def train_data(self, dataset, settings: ClipSettings, *, model_name: str) -> TrainData:
        from vidkit.data.datasets import ClipDataset
        from vidkit.data.transforms import ClipTransform
        from vidkit.engine.objectives import ClipObjective

        train_sampler, val_sampler = self.samplers(settings)
        s = settings
        train_set = ClipDataset(dataset.samples("train"), train_sampler, backend=s.backend, seed=s.seed)
        val_set = ClipDataset(dataset.samples("val"), val_sampler, backend=s.backend)
        transform = ClipTransform(
            crop_size=s.crop_size,
            train_scale=s.train_scale,
            test_scale=s.test_scale,
            flip_prob=0.5 if s.flip else 0.0,
        )
        return TrainData(list(dataset.classes), train_set, val_set, transform, ClipObjective())

    def samplers(self, settings: ClipSettings):
        """The training sampler and the validation sampler."""
        from vidkit.data import RandomClipSampler, UniformClipSampler

        return (
            RandomClipSampler(num_frames=settings.num_frames, interval_s=settings.interval_s),
            UniformClipSampler(num_clips=1, num_frames=settings.num_frames, interval_s=settings.interval_s),
        )

    def evaluate(self, loaded, request: EvalRequest) -> dict | None:
        from vidkit.data.registry import dataset_info
        from vidkit.engine import evaluation

        data = request.data or evaluation.trained_on(loaded)
        catalog = evaluation.open_eval_catalog(data, request, loaded)
        spec, preset = self.view_spec(
            loaded,
            views=request.views,
            default_preset=dataset_info(data).default_views,
            num_frames=request.num_frames,
            interval_s=request.interval_s,
            sampling_rate=request.sampling_rate,
            target_fps=request.target_fps,
            crop_size=request.crop_size,
            test_scale=request.test_scale,
        )
        return evaluation.evaluate(
            loaded,
            catalog,
            spec,
            preset=preset,
            aggregate_how=request.aggregate,
            batch_size=request.batch_size,
            # the main process runs the model
            workers=request.workers if request.workers is not None else default_workers(reserve=1),
            backend=request.backend,
            timeout_s=request.timeout_s,
            limit=request.limit,
            device=request.device,
            out=evaluation.out_dir(request.out, loaded.name, data),
            transform=self.test_transform(loaded),
        )


@register_task("adaptive")
class AdaptiveFrames(VideoClips):
    """Candidate frames over the whole video, of which a policy (AdaFrame) chooses what to look at."""

    segments = True
    workers_run_the_model = True

    def samplers(self, settings: ClipSettings):
        from vidkit.data import SegmentSampler

        snippet = dict(snippet=int(settings.model_options.get("snippet", 1)), interval_s=settings.interval_s)
        return (
            SegmentSampler(num_segments=settings.num_frames, mode="train", **snippet),
            SegmentSampler(num_segments=settings.num_frames, mode="test", **snippet),
        )

    def check_segments(self, loaded, segment_s: float | None) -> None:
        if segment_s:
            raise ConfigError(f"{loaded.name} chooses its frames over the whole video; --segments does not apply to it")

    def check_extracting(self, loaded) -> None:
        raise ConfigError(
            f"{loaded.name} chooses which frames to look at per video, so it has no fixed clip to extract "
            "features from; vidkit extract takes models of whole clips"
        )

    def check_watching(self, loaded) -> None:
        raise ConfigError(
            f"{loaded.name} chooses its frames over the whole video, which a live source does not have; "
            "vidkit watch takes models of clips"
        )

    def tagging_device(self, device: torch.device) -> torch.device:
        return torch.device("cpu")  # the workers run the policy

    def describe_tagging(self, model: nn.Module, spec) -> str:
        return f"up to {model.steps} of {spec.num_frames} candidate frames per video, chosen and decoded in the workers"

    def tagging_worker(
        self,
        model: nn.Module,
        spec,
        *,
        segment_s: float | None,
        stride_s: float | None,
        backend: str,
        timeout_s: float,
    ) -> Callable:
        from vidkit.engine.tagger import look_worker

        # each worker looks at its video with its own copy of the model, decoding only what it looks at
        return functools.partial(look_worker, model=model, spec=spec, backend=backend, timeout_s=timeout_s)


__all__ = ["AdaptiveFrames", "VideoClips"]
