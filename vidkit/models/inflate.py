"""Inflation of 2D networks into 3D ones (Carreira & Zisserman, "Quo Vadis, Action Recognition? A New Model
and the Kinetics Dataset", CVPR 2017, Sec. 2.4 "Inflating 2D ConvNets into 3D" and "Bootstrapping 3D
filters from 2D filters").

Every ``k×k`` 2D kernel becomes a ``t×k×k`` 3D kernel by repeating it ``t`` times along time and dividing
by ``t``; pooling layers gain a time axis of size 1; the classifier is kept. A clip made of one image
repeated ("a boring video") then gives the 2D network's output on that image exactly — provided time is
padded by repeating the end frames, not with zeros (zeros make the first and last frames' responses
differ). ``padding_mode="replicate"`` on ``Conv3d`` would replicate in space too, so time is padded
explicitly (:class:`~vidkit.models._resnet3d.TimeReplicateConv3d`).

    >>> import torchvision
    >>> net3d = inflate(torchvision.models.resnet50(), temporal_kernels={"conv1": 5, "layer1.0.conv1": 3})
    >>> net3d(torch.randn(1, 3, 8, 224, 224)).shape
    torch.Size([1, 1000])

Loading a 2D checkpoint into a vidkit 3D model (``build("i3d_r50", weights="resnet50.pth")``) inflates it
the same way, with :func:`inflate_weight`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
import torch.nn as nn

from vidkit.models._resnet3d import TEMPORAL_PADDINGS, TimeReplicateConv3d


def inflate_weight(weight: torch.Tensor, time: int, *, center: bool = False) -> torch.Tensor:
    """A 2D kernel ``[O, I, kh, kw]`` as a 3D one ``[O, I, time, kh, kw]``: repeated along time and divided
    by ``time`` (the I3D way), or with ``center=True`` placed at the middle time step with zeros around it
    (which keeps the fixed point with any temporal padding, and starts the net as its 2D self)."""
    if weight.ndim != 4:
        raise ValueError(f"a 2D kernel has 4 dimensions [O, I, kh, kw]; got shape {tuple(weight.shape)}")
    if center:
        out = weight.new_zeros((*weight.shape[:2], time, *weight.shape[2:]))
        out[:, :, time // 2] = weight
        return out
    return weight.unsqueeze(2).repeat(1, 1, time, 1, 1) / time


def inflate(
    model_2d: nn.Module,
    *,
    temporal_kernels: Mapping[str, int] | Callable[[str, nn.Conv2d], int] | None = None,
    temporal_padding: str = "replicate",
    center: bool = False,
) -> nn.Module:
    """A 3D copy of ``model_2d`` that takes ``[B, C, T, H, W]`` clips; ``model_2d`` is left as it is.

    Args:
        model_2d: a 2D network whose forward only chains its sub-modules (and flattens), such as
            torchvision's ResNets, or any network loaded from a 2D checkpoint.
        temporal_kernels: the temporal size of each inflated convolution, by module name
            (``{"conv1": 5, "layer1.0.conv1": 3}``) or as a function of (name, conv); unnamed convolutions
            get 1, i.e. they stay 2D (applied to every frame).
        temporal_padding: "replicate" (keeps the boring-video fixed point) or "zeros".
        center: initialise inflated kernels at the middle time step instead of repeating them.

    Conv2d, BatchNorm2d, (Adaptive)Max/AvgPool2d become their 3D forms with the same weights and statistics;
    linear layers, activations and dropout are kept. Any other 2D-only layer is an error, named.
    """
    if temporal_padding not in TEMPORAL_PADDINGS:
        raise ValueError(f"temporal_padding must be one of {TEMPORAL_PADDINGS}, not {temporal_padding!r}")
    convs = {name for name, m in model_2d.named_modules() if isinstance(m, nn.Conv2d)}
    if isinstance(temporal_kernels, Mapping):
        unknown = sorted(set(temporal_kernels) - convs)
        if unknown:
            raise ValueError(
                f"temporal_kernels names modules that are not Conv2d layers of the model: {', '.join(unknown)}"
            )
        table = dict(temporal_kernels)
        kernel_of = lambda name, conv: table.get(name, 1)  # noqa: E731
    else:
        kernel_of = temporal_kernels or (lambda name, conv: 1)
    model = copy.deepcopy(model_2d)
    for name, module in list(model.named_modules()):
        replacement = _inflate_module(name, module, kernel_of, temporal_padding, center)
        if replacement is not None:
            if not name:  # the model is itself one layer
                return replacement
            _set_submodule(model, name, replacement)
    return model


def _inflate_module(name: str, m: nn.Module, kernel_of, temporal_padding: str, center: bool) -> nn.Module | None:
    if isinstance(m, nn.Conv2d):
        if isinstance(m.padding, str) or m.padding_mode != "zeros":
            raise ValueError(
                f"cannot inflate {name}: padding {m.padding!r} / padding_mode {m.padding_mode!r} "
                "(only explicit zero padding)"
            )
        t = int(kernel_of(name, m))
        if t < 1:
            raise ValueError(f"temporal kernel for {name} must be >= 1, got {t}")
        kwargs = dict(
            stride=(1, *m.stride),
            padding=(t // 2, *m.padding),
            dilation=(1, *m.dilation),
            groups=m.groups,
            bias=m.bias is not None,
        )
        cls = TimeReplicateConv3d if temporal_padding == "replicate" and t > 1 else nn.Conv3d
        conv = cls(m.in_channels, m.out_channels, (t, *m.kernel_size), **kwargs)
        with torch.no_grad():
            conv.weight.copy_(inflate_weight(m.weight, t, center=center))
            if m.bias is not None:
                conv.bias.copy_(m.bias)
        return conv.to(_device(m))
    if isinstance(m, nn.BatchNorm2d):
        bn = nn.BatchNorm3d(
            m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine, track_running_stats=m.track_running_stats
        )
        bn.load_state_dict(m.state_dict())
        return bn.to(_device(m))
    if isinstance(m, nn.MaxPool2d):
        return nn.MaxPool3d(
            (1, *_pair(m.kernel_size)),
            stride=(1, *_pair(m.stride)),
            padding=(0, *_pair(m.padding)),
            dilation=(1, *_pair(m.dilation)),
            ceil_mode=m.ceil_mode,
        )
    if isinstance(m, nn.AvgPool2d):
        return nn.AvgPool3d(
            (1, *_pair(m.kernel_size)),
            stride=(1, *_pair(m.stride)),
            padding=(0, *_pair(m.padding)),
            ceil_mode=m.ceil_mode,
            count_include_pad=m.count_include_pad,
        )
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        # The 2D network pools space to a fixed size; its 3D self pools time away with it (I3D's final pooling).
        cls = nn.AdaptiveAvgPool3d if isinstance(m, nn.AdaptiveAvgPool2d) else nn.AdaptiveMaxPool3d
        return cls((1, *_pair(m.output_size)))
    if type(m).__name__.endswith("2d") and not list(m.children()):
        raise ValueError(f"cannot inflate {name}: {type(m).__name__} has no 3D counterpart here")
    return None


def _device(m: nn.Module) -> torch.device:
    tensor = next(m.parameters(), None)
    if tensor is None:
        tensor = next(m.buffers(), torch.empty(0))
    return tensor.device


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)
