"""What :class:`~vidkit.engine.tagger.Tagger` reads out of the model for each batch of views: the class
probabilities ``vidkit tag`` averages (:class:`ClassProbabilities`), or the features ``vidkit extract``
writes (:class:`Features`). Both run the same batched call, so tag and extract share the decoding, the
batching across videos and the per-video bookkeeping; only this last step differs.

A readout is called as ``readout(model, x, precision=, device=, batch_size=)`` on the normalised views
``x`` ``[N, C, T, S, S]`` and returns one row per view, float32 on the CPU. With ``keeps_windows``, the
tagger keeps each window's rows and gives them back in :attr:`~vidkit.engine.tagger.TagResult.windows`
(``window(rows)``: views averaged, or kept).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from einops import reduce

from vidkit.engine.evaluator import forward_in_batches
from vidkit.engine.loop import Precision

LAYERS = ("pooled", "temporal")


class ClassProbabilities:
    """The softmax of the model's logits, per view: what ``vidkit tag`` averages over views and windows."""

    keeps_windows = False

    def __call__(
        self, model: nn.Module, x: torch.Tensor, *, precision: Precision, device: torch.device, batch_size: int
    ) -> torch.Tensor:
        return forward_in_batches(model, x, precision=precision, device=device, batch_size=batch_size).softmax(-1)


class Features:
    """The model's features per view. ``layer="pooled"``: ``forward_head(forward_features(x),
    pre_logits=True)``, what the classifier sees before its dropout, ``[D]``; ``"temporal"``: the last
    feature map pooled over space only, ``[T', D]`` (:func:`temporal_features`). A window's views are
    averaged (``[D]`` / ``[T', D]``) unless ``keep_views`` (``[V, D]`` / ``[V, T', D]``)."""

    keeps_windows = True

    def __init__(self, layer: str = "pooled", *, keep_views: bool = False):
        if layer not in LAYERS:
            raise ValueError(f"layer {layer!r}: expected one of {', '.join(LAYERS)}")
        self.layer, self.keep_views = layer, keep_views

    def __call__(
        self, model: nn.Module, x: torch.Tensor, *, precision: Precision, device: torch.device, batch_size: int
    ) -> torch.Tensor:
        return forward_in_batches(
            model, x, precision=precision, device=device, batch_size=batch_size, forward=self._features
        )

    def _features(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        maps = model.forward_features(x)
        return model.forward_head(maps, pre_logits=True) if self.layer == "pooled" else temporal_features(maps)

    def window(self, rows: torch.Tensor) -> torch.Tensor:
        """One window's features from the rows of its views."""
        return rows if self.keep_views else rows.mean(0)


def temporal_features(maps) -> torch.Tensor:
    """The feature map(s) of ``forward_features`` pooled over space only: ``[B, T', D]``. A model of
    several pathways (SlowFast's ``(slow, fast)``) has each pooled, the coarser ones brought to the
    finest's ``T'`` by repeating each of their steps (nearest earlier step when the lengths do not
    divide), and their channels concatenated in the order the head concatenates them, so ``D`` is the
    model's ``num_features`` and the mean over ``T'`` is the ``pooled`` features (when the lengths divide)."""
    if isinstance(maps, torch.Tensor):
        maps = (maps,)
    if not isinstance(maps, (tuple, list)) or not all(isinstance(m, torch.Tensor) and m.ndim == 5 for m in maps):
        raise ValueError("the model's forward_features gives no [B, C, T, H, W] feature map to pool over space")
    pooled = [reduce(m, "b c t h w -> b t c", "mean") for m in maps]
    steps = max(p.shape[1] for p in pooled)
    aligned = []
    for p in pooled:
        if p.shape[1] != steps:
            index = (torch.arange(steps, device=p.device) * p.shape[1]) // steps  # step k of the finest's T'
            p = p.index_select(1, index)
        aligned.append(p)
    return torch.cat(aligned, dim=-1)


__all__ = ["LAYERS", "ClassProbabilities", "Features", "temporal_features"]
