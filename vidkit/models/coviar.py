"""CoViAR: "Compressed Video Action Recognition" (Wu et al., CVPR 2018).

Three TSN-style streams over what the codec already computed (§3.2): an I-frame network (a 2D
ResNet, ImageNet-style; ResNet-152 in the paper), and two ResNet-18s on the motion vectors (2 input
channels) and on the residuals (3), each accumulated back to the GOP's I-frame
(:mod:`vidkit.io.compressed`). Each stream classifies every sampled frame on its own and averages
its scores over the frames (TSN's consensus); the model's output is the weighted sum of the streams'
scores (§4, "late fusion"; ``fusion_weights``).

Input — the model contract's one tensor, packed by :mod:`vidkit.data.compressed`::

    x          [B, 8, T, H, W]      channels 0-2 I-frame (RGB 0..255), 3-4 motion vectors (pixels, the
                                    codec's sign), 5-7 residual (RGB -255..255)
    per stream [(B T), C_s, H, W]   → inputs → 2D ResNet → [(B T), K] → mean over T → [B, K]
    output     Σ_s w_s · scores_s   [B, K]

The model prepares its inputs itself, so a checkpoint carries how it was fed (``inputs``):

- ``"coviar"``, the authors' (pytorch-coviar ``dataset.py``, ``model.py`` and its C loader): I-frames
  normalised with ImageNet's mean and std; vectors turned to the loader's sign (where the content went:
  ``dst - src``, minus the codec's), clipped to ±20 px and shifted into [-0.5, 0.5] as their
  ``clip_and_scale(mv, 20) + 128`` byte images are (without its rounding to whole steps); residuals in
  the loader's BGR order, clipped to [-128, 127] and shifted the same way, over ImageNet's std; and the
  two streams each through a learnable input BatchNorm (their ``data_bn``). So the authors' trained
  streams load as they are (:meth:`CoViAR.load_pytorch_coviar`).
- ``"scaled"``, vidkit's former inputs: I-frames normalised with Kinetics' mean and std, vectors / 8 px
  and residuals / 64, unclipped, no input BatchNorm (what checkpoints written before the option were
  trained with).

The paper's recipe is the default: fusion weights I-frame : motion : residual = 2 : 1 : 1 (the authors'
``combine.py``), no dropout (their streams have none), 3 TSN segments in training and 25 in testing
(the model card's ``test_frames``; ``data.test_frames`` overrides).

Training: the paper trains the three networks separately. Here one run trains them together on the
sum of their own cross-entropies — the streams share no parameter, so each receives exactly the
gradient it would alone — and ``streams=("mv",)`` trains (and evaluates) one stream by itself.

ImageNet start (the paper's, and the authors' code's): every stream from a torchvision ImageNet ResNet of
its depth — ``model.load_imagenet({"iframe": "resnet50.pth", "mv": "resnet18.pth", "residual":
"resnet18.pth"})``, or one file for all through ``build(..., weights=...)`` when the depths match; see
:meth:`CoViAR.load_imagenet` for what keeps its fresh initialisation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from einops import rearrange, reduce

from vidkit.errors import CheckpointError
from vidkit.models._checkpoints import examples, register_converters, with_model
from vidkit.models._imagenet import fit_2d, read_2d
from vidkit.models.registry import register_model

STREAMS = {"iframe": (slice(0, 3), 3), "mv": (slice(3, 5), 2), "residual": (slice(5, 8), 3)}
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
INPUTS = ("coviar", "scaled")
MV_CLIP = 20.0  # pixels: pytorch-coviar's clip_and_scale(mv, 20)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the authors' I-frames; and their residuals' divisor, the std
IMAGENET_STD = (0.229, 0.224, 0.225)
KINETICS_MEAN, KINETICS_STD = (0.45,) * 3, (0.225,) * 3  # vidkit's former I-frame normalisation


def _stream(arch: str, in_channels: int, num_classes: int) -> torchvision.models.ResNet:
    """A torchvision 2D ResNet taking ``in_channels`` (its names unchanged, so torchvision's ImageNet
    checkpoints load into the I-frame stream under their own names)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown stream architecture {arch!r}; choose from {', '.join(ARCHS)}")
    net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return net


def _pooled(net: torchvision.models.ResNet, frames: torch.Tensor) -> torch.Tensor:
    """A torchvision ResNet's forward up to its classifier: ``[N, C, H, W]`` → pooled features ``[N, width]``."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(frames))))
    x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
    return torch.flatten(net.avgpool(x), 1)


class CoViAR(nn.Module):
    """The three streams (or the subset ``streams``) and their fusion weights.

    ``forward_features`` gives each stream's pooled features of every frame; ``forward_head`` classifies
    them (dropout, the stream's linear layer), averages over the frames and fuses. With ``pre_logits`` it
    returns the streams' frame-averaged features, concatenated (``num_features`` wide): the fused scores
    are one linear map of them, each stream's classifier scaled by its fusion weight."""

    def __init__(
        self,
        *,
        num_classes: int,
        streams: Sequence[str] = ("iframe", "mv", "residual"),
        iframe_arch: str = "resnet50",
        mv_arch: str = "resnet18",
        residual_arch: str = "resnet18",
        fusion_weights: Sequence[float] = (2.0, 1.0, 1.0),
        dropout: float = 0.0,
        inputs: str = "coviar",
    ):
        super().__init__()
        if inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {', '.join(INPUTS)}; got {inputs!r}")
        unknown = sorted(set(streams) - set(STREAMS))
        if unknown or not streams:
            raise ValueError(f"streams must be a non-empty subset of {', '.join(STREAMS)}; got {list(streams)}")
        if len(fusion_weights) != 3:
            raise ValueError(
                f"fusion_weights: one weight per stream (iframe, mv, residual), got {list(fusion_weights)}"
            )
        archs = {"iframe": iframe_arch, "mv": mv_arch, "residual": residual_arch}
        self.stream_names = tuple(s for s in STREAMS if s in streams)
        self.archs = {s: archs[s] for s in self.stream_names}
        self.streams = nn.ModuleDict({s: _stream(archs[s], STREAMS[s][1], num_classes) for s in self.stream_names})
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()  # before each stream's classifier
        self.inputs = inputs
        self.data_bn = nn.ModuleDict(
            {s: nn.BatchNorm2d(STREAMS[s][1]) for s in self.stream_names if s != "iframe" and inputs == "coviar"}
        )
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if inputs == "coviar" else (KINETICS_MEAN, KINETICS_STD)
        self.register_buffer("iframe_mean", torch.tensor(mean).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("iframe_std", torch.tensor(std).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("residual_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        weights = dict(zip(STREAMS, map(float, fusion_weights)))
        if len(self.stream_names) == 1:  # one stream alone gives its own scores
            weights[self.stream_names[0]] = 1.0
        self.register_buffer("fusion", torch.tensor([weights[s] for s in self.stream_names]), persistent=False)

    def checkpoint_options(self) -> dict[str, Any]:
        """What the weights compute besides their values: how the inputs are prepared, how scores fuse."""
        return {"inputs": self.inputs, "fusion_weights": [float(w) for w in self.fusion_weights]}

    @property
    def fusion_weights(self) -> tuple[float, ...]:
        """The weights of the I-frame, motion and residual scores (0 for a stream the model lacks)."""
        per = dict(zip(self.stream_names, self.fusion.tolist()))
        return tuple(per.get(s, 0.0) for s in STREAMS)

    def prepare(self, name: str, frames: torch.Tensor) -> torch.Tensor:
        """Stream ``name``'s input ``[N, C, H, W]`` as it was trained to see it (``inputs``, module doc)."""
        if name == "iframe":
            return (frames - self.iframe_mean.to(frames.dtype)) / self.iframe_std.to(frames.dtype)
        if self.inputs == "scaled":
            return frames / (8.0 if name == "mv" else 64.0)
        # each value v as the authors' byte image holds it, clip(v + 128, 0, 255), then / 255 - 0.5
        if name == "mv":  # their sign (dst - src), ±20 px over the byte's range
            frames = ((-frames * (127.5 / MV_CLIP)).clamp(-128.0, 127.0) + 0.5) / 255.0
        else:  # their BGR order, over ImageNet's std (in RGB order, as they divide)
            frames = (frames.flip(1).clamp(-128.0, 127.0) + 0.5) / 255.0 / self.residual_std.to(frames.dtype)
        return self.data_bn[name](frames)

    @property
    def num_features(self) -> int:
        """The streams' feature widths added up (2048 + 512 + 512 for the default streams)."""
        return sum(self.streams[s].fc.in_features for s in self.stream_names)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each stream's pooled features of every frame, ``{stream: [B, T, width]}``."""
        if x.ndim != 5 or x.shape[1] != 8:
            raise ValueError(
                f"CoViAR takes packed compressed clips [B, 8, T, H, W] (I-frame, motion vectors, residual; "
                f"vidkit.data.compressed), got shape {tuple(x.shape)}"
            )
        t = x.shape[2]
        features = {}
        for name in self.stream_names:
            frames = self.prepare(name, rearrange(x[:, STREAMS[name][0]], "b c t h w -> (b t) c h w"))
            features[name] = rearrange(_pooled(self.streams[name], frames), "(b t) d -> b t d", t=t)
        return features

    def scores(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each stream's TSN scores ``[B, K]`` from its features: the mean of its per-frame logits."""
        out = {}
        for name in self.stream_names:
            t = features[name].shape[1]
            frames = rearrange(features[name], "b t d -> (b t) d")
            out[name] = reduce(self.streams[name].fc(self.dropout(frames)), "(b t) k -> b k", "mean", t=t)
        return out

    def stream_scores(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each stream's TSN scores ``[B, K]`` (the mean of its per-frame logits)."""
        return self.scores(self.forward_features(x))

    def fuse(self, scores: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(w * scores[s] for w, s in zip(self.fusion, self.stream_names))

    def forward_head(self, features: dict[str, torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """The fused scores ``[B, K]`` (``pre_logits``: the frame-averaged features of the streams,
        concatenated, ``[B, num_features]``)."""
        if pre_logits:
            return torch.cat([reduce(features[s], "b t d -> b d", "mean") for s in self.stream_names], dim=1)
        return self.fuse(self.scores(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fused scores ``[B, K]``."""
        return self.forward_head(self.forward_features(x))

    def loss(
        self, x: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(fused scores, loss)``: the loss is the sum of the streams' own cross-entropies, so each stream
        is trained as if alone (the paper trains them separately)."""
        scores = self.stream_scores(x)
        fused = self.fuse(scores)
        loss = sum(F.cross_entropy(s.float(), targets, label_smoothing=label_smoothing) for s in scores.values())
        return fused, loss

    def reset_classifier(self, num_classes: int) -> None:
        """Fresh classifiers for ``num_classes`` in every stream (fine-tuning on a new label set)."""
        for name in self.stream_names:
            self.streams[name].fc = nn.Linear(self.streams[name].fc.in_features, num_classes)

    def load_imagenet(self, weights: str | os.PathLike | Mapping[str, Any]) -> CoViAR:
        """Start every stream from an ImageNet ResNet in torchvision's layout, as the authors' code does
        (chaoyuaw/pytorch-coviar, ``model.py``: ``torchvision.models.<arch>(pretrained=True)`` per stream).

        ``weights``: one file or state dict for every stream (when they share an architecture — what
        ``build("coviar", ..., weights=path_or_state_dict)`` takes), or one per stream,
        ``{"iframe": "resnet50.pth", "mv": "resnet18.pth", "residual": "resnet18.pth"}`` (paths or state
        dicts; names of streams the model lacks are ignored). Each stream takes its ResNet whole but for
        two parts, which keep this model's fresh initialisation as in the authors' code: the classifier
        (``fc``, a new ``num_classes`` one) and the motion-vector stream's first convolution (a new
        2-channel one, not derived from the RGB kernel). The residual stream takes the RGB ``conv1`` as it
        is. A checkpoint of another architecture than its stream's is one
        :class:`~vidkit.errors.CheckpointError` line naming what is missing. Returns ``self``."""
        self.load_state_dict(_imagenet_state(self, weights))
        return self

    def load_pytorch_coviar(self, checkpoints: Mapping[str, str | os.PathLike | Mapping[str, Any]]) -> CoViAR:
        """Load the streams trained by the authors' code (chaoyuaw/pytorch-coviar, ``train.py``: one
        checkpoint per stream, ``{"state_dict": ...}`` of its ``Model`` under ``module.``, the ResNet as
        ``base_model`` and the motion and residual streams' ``data_bn``): ``{"iframe": "iframe.pth.tar",
        "mv": "mv.pth.tar", "residual": "residual.pth.tar"}`` (paths or loaded dicts), one for each of
        this model's streams. Every weight is taken, classifiers included, so the model must be built with
        the checkpoints' architectures and class count, and with ``inputs="coviar"`` (the model then
        prepares its inputs as their loader did: the same scores from the same video). A mismatch is one
        :class:`~vidkit.errors.CheckpointError` line. Returns ``self``."""
        if self.inputs != "coviar":
            raise CheckpointError(
                "<pytorch-coviar checkpoints>",
                f"their streams take the authors' inputs; build with inputs='coviar', not {self.inputs!r}",
            )
        lacking = [s for s in self.stream_names if s not in checkpoints]
        if lacking:
            raise CheckpointError(
                "<pytorch-coviar checkpoints>",
                f"no checkpoint for CoViAR's {', '.join(lacking)} stream (it has {', '.join(self.stream_names)})",
            )
        out = self.state_dict()
        for name in self.stream_names:
            state, where = read_2d(checkpoints[name])
            mine = {f"streams.{name}.{k}" for k in self.streams[name].state_dict()}
            mine |= {f"data_bn.{name}.{k}" for k in self.data_bn[name].state_dict()} if name in self.data_bn else set()
            theirs = {}
            for key, value in state.items():
                if key.startswith("base_model."):
                    theirs[f"streams.{name}.{key[len('base_model.') :]}"] = value
                elif key.startswith("data_bn."):
                    theirs[f"data_bn.{name}.{key[len('data_bn.') :]}"] = value
            missing, unexpected = sorted(mine - set(theirs)), sorted(set(theirs) - mine)
            if missing or unexpected or not theirs:
                said = f"lacks {examples(missing)}" if missing else f"has {examples(unexpected)} besides"
                raise CheckpointError(
                    where,
                    f"not a pytorch-coviar {name} stream for this model (a {self.archs[name]}): it {said}"
                    if theirs
                    else "not a pytorch-coviar checkpoint (no base_model.* weights)",
                )
            classes, ours = (d[f"streams.{name}.fc.weight"].shape[0] for d in (theirs, out))
            if classes != ours:
                raise CheckpointError(
                    where, f"its classifier has {classes} classes, this model's {ours}: build with theirs"
                )
            wrong = sorted(k for k in mine if theirs[k].shape != out[k].shape)
            if wrong:
                k = wrong[0]
                raise CheckpointError(
                    where, f"{k.split('.', 2)[-1]} is {tuple(theirs[k].shape)} there, {tuple(out[k].shape)} here"
                )
            out.update(theirs)
        self.load_state_dict(out)
        return self


def _imagenet_state(
    model: CoViAR, weights: str | os.PathLike | Mapping[str, Any], source: str | None = None
) -> dict[str, torch.Tensor]:
    """``model``'s state dict with its streams started from ImageNet (:meth:`CoViAR.load_imagenet`)."""
    per_stream = isinstance(weights, Mapping) and bool(weights) and set(weights) <= set(STREAMS)
    if per_stream:
        lacking = [s for s in model.stream_names if s not in weights]
        if lacking:
            raise CheckpointError(
                source or "<ImageNet weights>",
                f"no checkpoint for CoViAR's {', '.join(lacking)} stream (it has {', '.join(model.stream_names)})",
            )
    out = model.state_dict()
    for name in model.stream_names:
        state, where = read_2d(weights[name] if per_stream else weights, source)
        keep = ["fc.weight", "fc.bias"] + (["conv1.weight"] if name == "mv" else [])
        try:
            start = fit_2d(
                model.streams[name], state, where, f"CoViAR's {name} stream (a {model.archs[name]})", keep=keep
            )
        except CheckpointError as e:
            if per_stream:
                raise
            hint = "; give one per stream: model.load_imagenet({'iframe': ..., 'mv': ..., 'residual': ...})"
            raise CheckpointError(e.path, e.reason + hint) from None
        out.update({f"streams.{name}.{k}": v for k, v in start.items()})
    return out


@with_model
def _from_torchvision(state: dict[str, torch.Tensor], source: str, model: CoViAR) -> dict[str, torch.Tensor]:
    return _imagenet_state(model, state, source)


register_converters(CoViAR, {"torchvision": _from_torchvision}, description="CoViAR (ImageNet ResNets per stream)")


@register_model(
    paper="Wu et al., CVPR 2018 (CoViAR)",
    input_frames=3,
    input_size=224,
    input_channels=8,
    task="compressed",
    test_frames=25,
    checkpoint_defaults={"inputs": "scaled", "fusion_weights": [1.0, 1.0, 1.0]},
)
def coviar(
    *,
    num_classes: int = 400,
    streams: Sequence[str] = ("iframe", "mv", "residual"),
    iframe_arch: str = "resnet50",
    mv_arch: str = "resnet18",
    residual_arch: str = "resnet18",
    fusion_weights: Sequence[float] = (2.0, 1.0, 1.0),
    dropout: float = 0.0,
    inputs: str = "coviar",
) -> CoViAR:
    """CoViAR: I-frame ResNet-50 (``iframe_arch``; the paper's is ResNet-152), motion-vector and residual
    ResNet-18s, scores summed with ``fusion_weights`` (the authors' 2 : 1 : 1); 3 segments per clip in
    training and 25 in testing, as in the paper. ``inputs="scaled"``, ``fusion_weights=(1, 1, 1)``,
    ``dropout=0.5``: vidkit's former recipe (the module doc)."""
    return CoViAR(
        num_classes=num_classes,
        streams=streams,
        iframe_arch=iframe_arch,
        mv_arch=mv_arch,
        residual_arch=residual_arch,
        fusion_weights=fusion_weights,
        dropout=dropout,
        inputs=inputs,
    )
