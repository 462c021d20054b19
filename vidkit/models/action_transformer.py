"""Per-person action recognition with person boxes: the Video Action Transformer Network (Girdhar et
al., "Video Action Transformer Network", CVPR 2019) and the "I3D head" baseline it is compared with.

Both read a clip centred on a keyframe and the boxes of the people on that keyframe, and score every
person on every action (multi-label: a person may sit and talk at once, so a sigmoid per class, not a
softmax). The recipe (Sec. 3):

1. **Trunk**: the zoo's I3D ResNet-50 (:func:`vidkit.models.resnet.i3d_r50`) cut after res4, i.e.
   spatial stride 16, time halved by the pool after res2: a 64-frame 400² clip gives ``[1024, 32, 25, 25]``.
2. **RoI pooling**: each person's box on the keyframe (the centre time slice of the trunk's map)
   pooled with RoIAlign (He et al., ICCV 2017; ``torchvision.ops.roi_align``) into 7×7 cells.
3. **Query preprocessor** (Sec. 3.2) to a 128-d query: "low" average-pools the cells and projects;
   "high" (the paper's best) reduces the channels with a 1×1 conv, keeps the cells, flattens them and
   projects.
4. **Memory**: the whole trunk map projected to 128-d, plus a location embedding of each cell's
   (t, y, x): the "context" every person looks at.
5. **Tx units** (Sec. 3.1), ``layers`` × ``heads`` (3 × 2 by default): multi-head scaled dot-product
   attention of the person's query over the clip's memory, dropout, residual, LayerNorm, a two-layer
   feed-forward network, dropout, residual, LayerNorm. Each person attends to its own clip only.
6. A linear classifier on the final query.

The baseline (``i3d_roi_head``) skips 3-6. Its default, ``head="res5"``, is the paper's I3D head: the
person's box extended in time to a tube, RoIAligned on every time slice of the res4 map, run through a
res5 stage (the trunk's last stage, as ``i3d_r50`` has it), averaged, dropout, linear.
``head="light"`` is vidkit's former baseline: the RoI features averaged over time and cells straight
into the linear classifier (no res5); checkpoints that do not record ``head`` hold it and load as it.
Either sees the person's own box only; the transformer also sees where the others are and what they do.
Shapes and parts: :mod:`vidkit.models._roi_heads`.

**Where the trunk differs from the paper's.** The paper's trunk is the Inception I3D (Carreira &
Zisserman, CVPR 2017) to Mixed_4f: RoI features at time stride 4 with 832 channels, and Mixed_5b/5c as the
I3D head's last blocks. Here the RoI features come from res4 of an I3D ResNet-50, at time stride 2 with
1024 channels, and the I3D head runs res5 (three 2048-channel bottlenecks, 17.1M parameters). So at full
width with AVA's 80 classes ``i3d_roi_head`` has 27.4M parameters (the paper's I3D-head model: 16.2M),
``action_transformer`` 10.7M (the paper's: 19.3M; our trunk to res4 is 10.2M of it) and
``i3d_roi_head(head="light")`` 10.2M. The counts compare only roughly: the paper's models also hold a
region proposal network on the keyframe, where vidkit takes the boxes as input.

Inputs, the one place where person boxes enter a model (every other model takes the clip alone):
``model(clip, boxes)`` with ``clip`` float ``[B, 3, T, H, W]`` and ``boxes`` float ``[K, 5]``, one row per
person: the index of its clip in the batch, then ``x1, y1, x2, y2`` normalised to [0, 1] (AVA's
convention, so they hold at any input size). It returns logits ``[K, num_classes]``. ``model(clip)``
alone treats each clip as one person filling the frame (``[B, num_classes]``), so the registry's
generic tools (``vidkit models``' GFLOPs, the smoke tests) run it like any classifier.

The model interface splits there too: ``forward_features(clip)`` is the trunk's map ``[B, C, T', H', W']``
(no boxes needed), ``forward_head(features, boxes=boxes)`` the rest, so ``model(clip, boxes)`` is
``model.forward_head(model.forward_features(clip), boxes=boxes)``; with ``pre_logits=True`` the head
returns each person's feature ``[K, num_features]`` before the classifier's dropout (the final query;
the baseline's pooled res5, or RoI, feature).

Shapes for ``action_transformer`` on a 16-frame 224² clip with K people::

    clip        [B, 3, 16, 224, 224]
    trunk       [B, 1024, 8, 14, 14]             I3D R50 to res4
    keyframe    [B, 1024, 14, 14]                the centre time slice
    RoIAlign    [K, 1024, 7, 7]                  each box, on its clip's slice
    query       [K, 128]                         "high": 1×1 conv to 16, flatten 784, linear
    memory      [B, 8·14·14, 128] → [K, 1568, 128]   projection + location embedding, each person's clip
    3 Tx units  [K, 128]                         2 heads each
    logits      [K, num_classes]
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, reduce

from vidkit.models._resnet3d import init_weights
from vidkit.models._roi_heads import (
    HEADS,
    I3DRoIHead,
    PersonModel,
    Res4Trunk,
    centre_slice,
    pool_keyframe,
    pool_tubes,
    whole_frame_boxes,
)
from vidkit.models.registry import register_model

__all__ = [
    "HEADS",
    "ActionTransformer",
    "I3DRoIHead",
    "Res4Trunk",
    "TxUnit",
    "pool_keyframe",
    "pool_tubes",
    "whole_frame_boxes",
]

_CARD = dict(
    input_frames=64,
    input_size=400,
    task="persons",  # the paper's clip: 64 frames at 400²
    paper="Girdhar et al., CVPR 2019 (Video Action Transformer Network)",
)


class LowResQuery(nn.Module):
    """Average-pool the RoI cells, then a linear projection to the query size (Sec. 3.2, "LowRes")."""

    def __init__(self, channels: int, dim: int, roi_size: int):
        super().__init__()
        self.proj = nn.Linear(channels, dim)

    def forward(self, roi: torch.Tensor) -> torch.Tensor:
        return self.proj(reduce(roi, "k c h w -> k c", "mean"))


class HighResQuery(nn.Module):
    """Reduce the channels with a 1×1 conv, keep the cells, flatten them, project (Sec. 3.2, "HighRes")."""

    def __init__(self, channels: int, dim: int, roi_size: int, *, reduced: int = 16):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.proj = nn.Linear(reduced * roi_size * roi_size, dim)

    def forward(self, roi: torch.Tensor) -> torch.Tensor:
        return self.proj(rearrange(F.relu(self.reduce(roi)), "k c h w -> k (c h w)"))


class LocationEmbedding(nn.Module):
    """A learned embedding of each memory cell's (t, y, x), each in [-1, 1]: a two-layer MLP, so it
    holds for any clip length and size (a table of positions would fix them)."""

    def __init__(self, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))

    def forward(self, t: int, h: int, w: int, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        axes = [
            torch.linspace(-1, 1, n, device=device, dtype=dtype)
            if n > 1
            else torch.zeros(1, device=device, dtype=dtype)
            for n in (t, h, w)
        ]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # [t, h, w, 3]
        return self.mlp(rearrange(grid, "t h w c -> (t h w) c"))


class TxUnit(nn.Module):
    """One Action Transformer unit (Sec. 3.1, Fig. 3): the person's query attends over its clip's
    memory (multi-head scaled dot-product attention, the heads' outputs concatenated and projected),
    dropout, residual, LayerNorm; then a feed-forward network (two linear layers with a ReLU), dropout,
    residual, LayerNorm."""

    def __init__(self, dim: int = 128, heads: int = 2, *, dropout: float = 0.3, hidden: int | None = None):
        super().__init__()
        if dim % heads:
            raise ValueError(f"the query size {dim} must divide into {heads} heads")
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.drop1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden or dim), nn.ReLU(inplace=True), nn.Linear(hidden or dim, dim))
        self.drop2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim)

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor,
        *,
        memory_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``query`` ``[K, dim]``, ``memory`` ``[K, N, dim]`` (each person's own clip) → the new query
        ``[K, dim]`` and, with ``need_weights``, the attention ``[K, heads, N]`` (each row sums to 1).
        ``memory_mask`` ``[K, N]``, True where a cell must not be attended (padding)."""
        read, weights = self.attention(
            query[:, None],
            memory,
            memory,
            key_padding_mask=memory_mask,
            need_weights=need_weights,
            average_attn_weights=False,
        )
        q = self.norm1(query + self.drop1(read[:, 0]))
        q = self.norm2(q + self.drop2(self.ffn(q)))
        return q, (weights[:, :, 0] if weights is not None else None)


class ActionTransformer(PersonModel):
    """The Video Action Transformer Network: see the module docstring for the recipe and shapes.

    Args:
        query: "high" (1×1 conv to ``query_reduce`` channels, flatten, project) or "low" (average, project).
        dim: the query, key and value size (128). heads, layers: the Tx units (2 × 3).
        dropout: in the Tx units (0.3) and before the classifier.
        width: the trunk's stem width (64: ResNet-50).
    """

    def __init__(
        self,
        *,
        num_classes: int = 80,
        query: str = "high",
        dim: int = 128,
        heads: int = 2,
        layers: int = 3,
        dropout: float = 0.3,
        roi_size: int = 7,
        query_reduce: int = 16,
        width: int = 64,
        temporal_padding: str = "zeros",
    ):
        super().__init__(width=width, roi_size=roi_size, temporal_padding=temporal_padding)
        channels = self.trunk.out_channels
        if query == "high":
            self.query = HighResQuery(channels, dim, roi_size, reduced=query_reduce)
        elif query == "low":
            self.query = LowResQuery(channels, dim, roi_size)
        else:
            raise ValueError(f"query must be 'high' or 'low', not {query!r}")
        self.memory = nn.Conv3d(channels, dim, 1)
        self.location = LocationEmbedding(dim)
        self.units = nn.ModuleList(TxUnit(dim, heads, dropout=dropout) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)
        init_weights(self.trunk)

    def forward(
        self, x: torch.Tensor, boxes: torch.Tensor | None = None, *, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """``x`` ``[B, 3, T, H, W]``, ``boxes`` ``[K, 5]`` → logits ``[K, num_classes]``; with
        ``return_attention`` also each unit's attention ``[K, heads, T'·H'·W']`` over the memory cells."""
        boxes = self._boxes(x, boxes)
        return self.forward_head(self.forward_features(x), boxes=boxes, return_attention=return_attention)

    def forward_head(
        self,
        features: torch.Tensor,
        pre_logits: bool = False,
        *,
        boxes: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """The trunk's map ``[B, C, T', H', W']`` and ``boxes`` ``[K, 5]`` → logits ``[K, num_classes]``
        (``pre_logits``: the final queries ``[K, dim]``, before the classifier's dropout)."""
        boxes = self._boxes(features, boxes)
        query = self.query(pool_keyframe(centre_slice(features), boxes, self.roi_size))  # [K, dim]
        t, h, w = features.shape[2:]
        memory = rearrange(self.memory(features), "b d t h w -> b (t h w) d")
        memory = memory + self.location(t, h, w, device=memory.device, dtype=memory.dtype)
        memory = memory[boxes[:, 0].long()]  # [K, N, dim]: each person's own clip
        attention = []
        for unit in self.units:
            query, weights = unit(query, memory, need_weights=return_attention)
            attention.append(weights)
        out = query if pre_logits else self.classifier(self.dropout(query))
        return (out, attention) if return_attention else out


def _with_trunk(model: PersonModel, trunk_weights) -> PersonModel:
    if trunk_weights is not None:
        model.load_trunk(trunk_weights)
    return model


@register_model(**_CARD)
def action_transformer(
    *,
    num_classes: int = 80,
    query: str = "high",
    dim: int = 128,
    heads: int = 2,
    layers: int = 3,
    dropout: float = 0.3,
    roi_size: int = 7,
    width: int = 64,
    temporal_padding: str = "zeros",
    trunk_weights: str | None = None,
) -> ActionTransformer:
    """Action Transformer on the I3D ResNet-50 trunk to res4: HighRes query, 2 heads × 3 layers, 128-d.
    ``trunk_weights``: an ``i3d_r50`` checkpoint (e.g. Kinetics-400) to start the trunk from, as the paper does."""
    return _with_trunk(
        ActionTransformer(
            num_classes=num_classes,
            query=query,
            dim=dim,
            heads=heads,
            layers=layers,
            dropout=dropout,
            roi_size=roi_size,
            width=width,
            temporal_padding=temporal_padding,
        ),
        trunk_weights,
    )


# Checkpoints that do not record ``head`` were trained before the res5 head existed: the light head.
@register_model(**_CARD, checkpoint_defaults={"head": "light"})
def i3d_roi_head(
    *,
    num_classes: int = 80,
    head: str = "res5",
    dropout: float = 0.3,
    roi_size: int = 7,
    width: int = 64,
    temporal_padding: str = "zeros",
    trunk_weights: str | None = None,
) -> I3DRoIHead:
    """The I3D-head baseline on the same trunk. ``head="res5"`` (the paper's): each person's tube RoIAligned
    from res4, res5, average pool, linear; ``head="light"`` (vidkit's former baseline): the RoI features
    averaged straight into the linear layer. ``trunk_weights``: an ``i3d_r50`` checkpoint to
    start the trunk and the res5 head from (its res4 and its res5)."""
    return _with_trunk(
        I3DRoIHead(
            num_classes=num_classes,
            head=head,
            dropout=dropout,
            roi_size=roi_size,
            width=width,
            temporal_padding=temporal_padding,
        ),
        trunk_weights,
    )
