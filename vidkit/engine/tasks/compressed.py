"""The compressed domain (``compressed``, CoViAR): I-frames, accumulated motion vectors and residuals,
read from the bitstream (:mod:`vidkit.data.compressed`), ``num_frames`` TSN segments per video in
training and ``test_frames`` in validation (the model's recipe, CoViAR's 25, or ``data.test_frames``).

These models do not take the RGB clips ``vidkit eval`` and ``vidkit tag`` decode: they are trained
here and evaluated with tools/coviar_table.py.
"""

from __future__ import annotations

import sys

from vidkit.engine.tasks._base import ClipSettings, EvalRequest, Task, TrainData, register_task
from vidkit.errors import ConfigError


@register_task("compressed")
class CompressedDomain(Task):
    """I-frame, motion vectors and residual of each TSN segment, packed as 8 channels."""

    test_frames = True

    def train_data(self, dataset, settings: ClipSettings, *, model_name: str) -> TrainData:
        """The synthetic set is re-encoded once to CoViAR's format beside itself (its H.264 files have
        B-frames, along which residuals are not exact); a downloaded set is read as it is — convert it
        first with tools/reencode_coviar.py and point --data-root at the copy."""
        from vidkit.data.compressed import CompressedClipDataset, CompressedTransform, coviar_format
        from vidkit.engine.objectives import ClipObjective

        s = settings
        train, val = dataset.samples("train"), dataset.samples("val")
        root = getattr(dataset, "root", None)
        if s.data_name == "synthetic" and root is not None:
            dest = f"{root}-coviar"
            progress = sys.stderr.isatty()
            train, val = (coviar_format(samples, root=root, dest=dest, progress=progress) for samples in (train, val))
        train_set = CompressedClipDataset(train, num_segments=s.num_frames, train=True, seed=s.seed)
        # the paper tests with more segments than it trains on (25 against 3): the card's test_frames
        val_set = CompressedClipDataset(val, num_segments=s.test_frames or s.num_frames, train=False)
        transform = CompressedTransform(
            crop_size=s.crop_size,
            train_scale=s.train_scale,
            test_scale=s.test_scale,
            flip_prob=0.5 if s.flip else 0.0,
        )
        return TrainData(list(dataset.classes), train_set, val_set, transform, ClipObjective())

    def _refuse(self, loaded) -> ConfigError:
        return ConfigError(
            f"{loaded.path}: {loaded.name} reads the compressed domain (I-frames, motion vectors, residuals), "
            "not the RGB clips vidkit eval, tag, extract and watch decode; evaluate it with tools/coviar_table.py"
        )

    def evaluate(self, loaded, request: EvalRequest) -> dict | None:
        raise self._refuse(loaded)

    def check_tagging(self, loaded) -> None:
        raise self._refuse(loaded)


__all__ = ["CompressedDomain"]
