"""TSM: Temporal Shift Module (Lin, Gan, Han, "TSM: Temporal Shift Module for Efficient Video Understanding",
ICCV 2019, https://arxiv.org/abs/1811.08383).

A 2D ResNet-50 (TSN) made temporal for free: inside every bottleneck, before conv_a, a fraction of the
channels is shifted one frame along time — 1/8 from the next frame and 1/8 from the previous one, the
ends zero-padded — so each frame's 1×1 convolution mixes its neighbours' features (Sec. 3.1, Fig. 1b).
The shift sits in the residual branch only ("residual shift", Sec. 3.3, Fig. 3b), leaving the identity
path untouched. No parameters and no FLOPs are added: ``tsm_r50`` has ResNet-50's 24,327,632 parameters
with 400 classes.

Online recognition (Sec. 4.2, Fig. 1c): with ``shift="causal"`` only the past is shifted in (1/8 of the
channels come from the previous frame), so frames can be fed as they arrive. Each block then caches the
1/8 of its input channels of the last frame it saw and hands them to the next one::

    model = build("tsm_r50", num_classes=K, shift="causal").eval()
    with model.streaming():                  # caches are empty at the start, dropped at the end
        for frame in frames:                 # each [B, 3, 1, H, W] (or a chunk of several frames)
            scores = model.step(frame)       # [B, 1, K]: that frame's class scores

Streaming gives the same per-frame scores as the offline causal model over the whole clip.

The classifier starts as the authors' does (mit-han-lab/temporal-shift-module, ``ops/models.py``,
``TSN._prepare_tsn``: ``std = 0.001``, ``normal_(self.new_fc.weight, 0, std)``, ``constant_(self.new_fc.bias,
0)``): weights N(0, 0.001²), bias 0, where the other ResNets of the zoo draw N(0, 0.01²) (PySlowFast's). A
classifier made for a new label set (:meth:`TSM.reset_classifier`, which fine-tuning and the ImageNet start
call) starts so too: the authors' fine-tuning (``main.py``, ``--tune_from`` on a new dataset) drops the
checkpoint's ``fc`` and keeps that fresh ``new_fc``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn as nn

from vidkit.models._resnet3d import Bottleneck
from vidkit.models.registry import register_model
from vidkit.models.resnet import ResNet3d

SHIFTS = ("bidirectional", "causal")


class TemporalShift(nn.Module):
    """Shift ``1/fold_div`` of the channels of ``[B, C, T, H, W]`` along time.

    ``bidirectional``: channels ``[0, C/8)`` take the next frame's values, ``[C/8, C/4)`` the previous
    frame's (TSM's offline shift). ``causal``: channels ``[0, C/8)`` take the previous frame's. Zeros fill
    in at the ends. The input is never modified.

    When streaming (:meth:`start_stream`), a causal shift keeps the shifted channels of the last frame of
    each call for the first frame of the next.
    """

    def __init__(self, fold_div: int = 8, mode: str = "bidirectional"):
        super().__init__()
        if mode not in SHIFTS:
            raise ValueError(f"shift must be one of {SHIFTS}, not {mode!r}")
        self.fold_div, self.mode = fold_div, mode
        self.streaming = False
        self._cache: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fold = x.shape[1] // self.fold_div
        if self.mode == "bidirectional":
            if self.streaming:
                raise RuntimeError("a bidirectional shift needs future frames: stream with shift='causal'")
            from_next = _shift(x[:, :fold], -1)
            from_prev = _shift(x[:, fold : 2 * fold], 1)
            return torch.cat([from_next, from_prev, x[:, 2 * fold :]], dim=1)
        head = x[:, :fold]
        if self.streaming:
            previous = self._cache if self._cache is not None else head.new_zeros(*head.shape[:2], 1, *head.shape[3:])
            self._cache = head[:, :, -1:].detach()
            from_prev = torch.cat([previous, head[:, :, :-1]], dim=2)
        else:
            from_prev = _shift(head, 1)
        return torch.cat([from_prev, x[:, fold:]], dim=1)

    def start_stream(self) -> None:
        self.streaming, self._cache = True, None

    def stop_stream(self) -> None:
        self.streaming, self._cache = False, None

    def extra_repr(self) -> str:
        return f"fold_div={self.fold_div}, mode={self.mode}"


def _shift(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``x`` moved ``steps`` frames later in time (earlier when negative), zeros filling the gap."""
    pad = x.new_zeros(*x.shape[:2], abs(steps), *x.shape[3:])
    if steps > 0:
        return torch.cat([pad, x[:, :, :-steps]], dim=2)
    return torch.cat([x[:, :, -steps:], pad], dim=2)


class TSM(ResNet3d):
    """ResNet-50 with a :class:`TemporalShift` in the residual branch of every bottleneck, per-frame class
    scores averaged over time (TSN's consensus, which TSM keeps); the classifier starts N(0, 0.001²), bias 0."""

    classifier_std = 0.001  # the authors' new_fc: normal_(weight, 0, 0.001), constant_(bias, 0)

    def __init__(
        self,
        *,
        num_classes: int = 400,
        shift: str = "bidirectional",
        shift_div: int = 8,
        dropout: float = 0.5,
        zero_init_final_bn: bool = True,
    ):
        def add_shift(index: int, block: Bottleneck) -> None:
            block.shift = TemporalShift(shift_div, shift)

        super().__init__(
            num_classes=num_classes,
            consensus="scores",
            dropout=dropout,
            zero_init_final_bn=zero_init_final_bn,
            customize=add_shift,
        )
        self.shift_mode = shift

    @property
    def streamable(self) -> bool:
        """Whether frames can be fed as they come (:meth:`streaming`, :meth:`step`): only with the causal shift."""
        return self.shift_mode == "causal"

    def shifts(self) -> list[TemporalShift]:
        return [block.shift for block in self.backbone.blocks()]

    @contextlib.contextmanager
    def streaming(self) -> Iterator[TSM]:
        """Feed frames in order with :meth:`step` inside this block; the caches start empty and are
        dropped at its end. Only a causal TSM can stream."""
        if self.shift_mode != "causal":
            raise RuntimeError("only a causal TSM streams (build it with shift='causal')")
        for s in self.shifts():
            s.start_stream()
        try:
            yield self
        finally:
            for s in self.shifts():
                s.stop_stream()

    def step(self, frames: torch.Tensor) -> torch.Tensor:
        """The next frame(s) ``[B, C, t, H, W]`` of a stream → their class scores ``[B, t, K]``."""
        return self.frame_logits(self.forward_features(frames))


_PAPER = "Lin et al., ICCV 2019 (TSM)"


@register_model(paper=_PAPER, input_frames=8, input_size=224)
def tsm_r50(
    *,
    num_classes: int = 400,
    shift: str = "bidirectional",
    shift_div: int = 8,
    dropout: float = 0.5,
    zero_init_final_bn: bool = True,
) -> TSM:
    """TSM ResNet-50, residual shift of 1/8 + 1/8 channels (``shift="causal"``: the online variant, 1/8 from
    the past); 24,327,632 parameters with 400 classes, the FLOPs of ResNet-50 on every frame."""
    return TSM(
        num_classes=num_classes,
        shift=shift,
        shift_div=shift_div,
        dropout=dropout,
        zero_init_final_bn=zero_init_final_bn,
    )
