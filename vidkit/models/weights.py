"""Loading checkpoints into vidkit models: vidkit's own, the model-zoo files of pytorchvideo and PySlowFast,
and 2D ImageNet ResNets (torchvision's layout), inflated.

Six layouts are told apart by their keys:

============  ==============================  ======================================================================
layout        where the tensors are           a key
============  ==============================  ======================================================================
vidkit        ``{"model": ...,                ``slow.res2.block1.conv_a.weight``
              "model_name": ...}`` or bare
pytorchvideo  ``{"model_state": ...}``        ``blocks.1.multipathway_blocks.0.res_blocks.0.branch2.conv_a.weight``
                                              (SlowFast), ``blocks.1.res_blocks.0.branch2.conv_a.weight`` (C2D, I3D)
PySlowFast    ``{"model_state": ...}``        ``s2.pathway0_res0.branch2.a.weight``
torchvision   bare, or under ``state_dict``   ``layer1.0.conv1.weight`` (a 2D ResNet)
mmaction2     ``{"state_dict": ...}``         ``backbone.layer1.0.conv1.conv.weight`` (TSN),
                                              ``backbone.layer1.0.conv1.conv.net.weight`` (TSM)
TSM           ``{"state_dict": ...}``         ``module.base_model.layer1.0.conv1.net.weight``
              (mit-han-lab's repo)
============  ==============================  ======================================================================

SlowFast models take the pytorchvideo and PySlowFast SlowFast files; the single-pathway ResNets (C2D,
TSN, I3D, TSM, CoST, …) take their C2D/I3D/Slow files, 2D ResNet checkpoints and mmaction2's and the TSM
authors' TSN/TSM ResNet-50 files. A 2D kernel loaded
into a 3D convolution is inflated the I3D way (:func:`vidkit.models.inflate.inflate_weight`).

``module.`` (DistributedDataParallel) and ``_orig_mod.`` (``torch.compile``) prefixes are dropped.
Files are always read with ``torch.load(..., map_location="cpu", weights_only=True)``: a checkpoint
that needs arbitrary unpickling is refused, never executed.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn as nn

from vidkit.errors import CheckpointError, ConfigError

_PATHWAYS = ("slow", "fast")
_LATERALS = ("stem", "res2", "res3", "res4")  # SlowFast fuses after pool1, res2, res3, res4
_PREFIXES = ("module.", "_orig_mod.")

Rules = list[tuple[re.Pattern, Callable[[re.Match], str]]]


def load_weights(
    model: nn.Module, path_or_state: str | os.PathLike | Mapping[str, Any], *, model_name: str
) -> nn.Module:
    """Load a checkpoint (a file, or an already loaded checkpoint / state dict) into ``model``, built as
    ``model_name``; every tensor must find its place and every parameter must be given. Raises
    :class:`~vidkit.errors.CheckpointError` with the file and the reason, in one line. Returns ``model``."""
    source = "<state dict>" if isinstance(path_or_state, Mapping) else os.fspath(path_or_state)
    checkpoint = path_or_state if isinstance(path_or_state, Mapping) else read_checkpoint(source)
    layout, state, meta_name = _unwrap(checkpoint, source)
    _check_model_name(meta_name, model_name, source)
    if layout != "vidkit":
        family = _family(model)
        converter = _CONVERTERS.get((layout, family))
        if converter is None:
            takes = sorted(f for lay, f in _CONVERTERS if lay == layout)
            raise CheckpointError(
                source,
                f"a {layout} checkpoint; vidkit converts those for "
                f"{' and '.join(_FAMILY_NAMES[f] for f in takes)} only, not {model_name}",
            )
        state = converter(state, source)
        if layout in _2D_LAYOUTS:
            state = _inflate_2d(model, state)
    model.load_state_dict(_fit(model, state, source, layout, model_name))
    return model


def classifier_classes(path_or_state: str | os.PathLike | Mapping[str, Any]) -> int | None:
    """How many classes a checkpoint's classifier has (its output rows), in any layout :func:`load_weights`
    reads; None when no classifier is recognised. For building the model a checkpoint fits before loading it."""
    source = "<state dict>" if isinstance(path_or_state, Mapping) else os.fspath(path_or_state)
    checkpoint = path_or_state if isinstance(path_or_state, Mapping) else read_checkpoint(source)
    _, state, _ = _unwrap(checkpoint, source)
    heads = [
        v
        for k, v in state.items()
        if v.dim() == 2
        and re.search(
            r"(^|\.)(head|head\.proj|head\.projection|blocks\.\d+\.proj|fc|cls_head\.fc_cls|new_fc)\.weight$", k
        )
    ]
    return int(heads[-1].shape[0]) if heads else None


# -- reading and unwrapping -----------------------------------------------------------------------
def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, with every failure as one
    :class:`CheckpointError` line (no such file, pickled objects refused, damaged file)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(path, "no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's message is a paragraph; what it met follows "WeightsUnpickler error:".
        message = str(e)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", message)
        if found:
            raise CheckpointError(
                path,
                "refused: it holds pickled Python objects, not only tensors and plain values "
                f"(read with weights_only=True; it asks for {found[1]})",
            ) from None
        found = re.search(r"WeightsUnpickler error:\s*(.+)", message)
        raise CheckpointError(
            path, f"not a readable PyTorch checkpoint ({found[1].strip() if found else 'unpickling failed'})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(path, f"not a readable PyTorch checkpoint ({first})") from None


def _unwrap(checkpoint: Any, source: str) -> tuple[str, dict[str, torch.Tensor], str | None]:
    """(layout, state dict with prefixes dropped, the model name the checkpoint records if any)."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(source, f"holds a {type(checkpoint).__name__}, not a checkpoint dictionary")
    meta_name = None
    for key in ("model", "model_state", "state_dict"):
        if isinstance(checkpoint.get(key), Mapping):
            state = checkpoint[key]
            if key == "model":
                meta_name = checkpoint.get("model_name")
            break
    else:
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            state = checkpoint
        else:
            keys = ", ".join(list(map(str, checkpoint))[:5])
            raise CheckpointError(
                source, f"no state dict in it (looked under 'model', 'model_state', 'state_dict'; its keys: {keys})"
            )
    state = {_strip(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if (
        meta_name is not None
    ):  # vidkit's own checkpoint says what it holds (AdaFrame's "backbone.layer1." is not mmaction2's)
        layout = "vidkit"
    elif any(k.startswith("blocks.") and (".multipathway_" in k or ".res_blocks." in k) for k in state):
        layout = "pytorchvideo"
    elif any(re.match(r"s1\.pathway\d_stem\.", k) for k in state):
        layout = "PySlowFast"
    elif any(k.startswith("backbone.layer1.") for k in state):
        layout = "mmaction2"
    elif any(k.startswith("base_model.layer1.") for k in state):
        layout = "TSM"
    elif "conv1.weight" in state and "layer1.0.conv1.weight" in state:
        layout = "torchvision"
    else:
        layout = "vidkit"
    return layout, state, meta_name if isinstance(meta_name, str) else None


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _check_model_name(recorded: str | None, model_name: str, source: str) -> None:
    if recorded is None:
        return
    from vidkit.models.registry import resolve

    def canonical(name: str) -> str:
        try:
            return resolve(name)
        except ConfigError:
            return name

    if canonical(recorded) != canonical(model_name):
        raise CheckpointError(
            source, f"holds {recorded!r} weights, not {model_name!r}; build({recorded!r}, ...) loads it"
        )


def _family(model: nn.Module) -> str | None:
    from vidkit.models.resnet import ResNet3d
    from vidkit.models.slowfast import SlowFast

    if isinstance(model, SlowFast):
        return "slowfast"
    return "resnet" if isinstance(model, ResNet3d) else None


_FAMILY_NAMES = {"slowfast": "SlowFast models", "resnet": "single-pathway ResNets (C2D, TSN, I3D, TSM, CoST, ...)"}


def _inflate_2d(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """2D kernels ``[O, I, kh, kw]`` whose place in ``model`` is a 3D kernel ``[O, I, t, kh, kw]``, inflated."""
    from vidkit.models.inflate import inflate_weight

    own = model.state_dict()
    out = dict(state)
    for key, value in state.items():
        target = own.get(key)
        if (
            target is not None
            and value.ndim == 4
            and target.ndim == 5
            and target.shape[:2] == value.shape[:2]
            and target.shape[3:] == value.shape[2:]
        ):
            out[key] = inflate_weight(value, target.shape[2])
    return out


# -- checking against the model -------------------------------------------------------------------
def _fit(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, layout: str, model_name: str
) -> dict[str, torch.Tensor]:
    """The state dict to load, after checking every key and shape; a mismatch is one-line error."""
    own = model.state_dict()
    # Old checkpoints lack BN's num_batches_tracked; it does not change the model's output.
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of the model's tensors missing (e.g. {_examples(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} tensors the model does not have (e.g. {_examples(unexpected)})")
        raise CheckpointError(source, f"this {layout} checkpoint does not fit {model_name}: {'; '.join(parts)}")
    head = _classifier_name(model)
    if head is not None and f"{head}.weight" in state and state[f"{head}.weight"].shape != own[f"{head}.weight"].shape:
        theirs, ours = state[f"{head}.weight"].shape[0], own[f"{head}.weight"].shape[0]
        fix = (
            f"model.reset_classifier({ours})"
            if hasattr(model, "reset_classifier")
            else f"replace model.{head} with a {ours}-way layer"
        )
        raise CheckpointError(
            source,
            f"the checkpoint's classifier has {theirs} classes, the model {ours}; build "
            f"{model_name} with num_classes={theirs}, load the weights, then {fix} to fine-tune",
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if wrong:
        raise CheckpointError(
            source,
            f"this {layout} checkpoint does not fit {model_name}: {len(wrong)} tensors of "
            f"another shape (checkpoint vs model, e.g. {_examples(wrong)})",
        )
    return {k: state.get(k, v) for k, v in own.items()}


def _classifier_name(model: nn.Module) -> str | None:
    """The name of the model's last linear layer (its classifier): ``head.proj``, ``fc``."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    return last


def _examples(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (", …" if len(items) > n else "")


# -- key conversion -------------------------------------------------------------------------------
def _rename(state: dict[str, torch.Tensor], rules: Rules, source: str, layout: str) -> dict[str, torch.Tensor]:
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, target in rules:
            m = pattern.fullmatch(key)
            if m:
                out[target(m)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(
            source,
            f"{len(unknown)} keys of this {layout} checkpoint have no place in the vidkit "
            f"model (e.g. {_examples(unknown)})",
        )
    return out


def _block(stage: int, pathway: str, index: str, part: str, pathways: tuple[str, ...] = _PATHWAYS) -> str:
    return f"{pathways[int(pathway)]}.res{stage}.block{int(index) + 1}.{part}"


# pytorchvideo (create_slowfast): blocks.0 = stems + first fusion, blocks.1-4 = res2-res5 + fusion,
# blocks.5 = pooling, blocks.6 = head.
_PTV_PARTS = {
    "branch1_conv": "shortcut.conv",
    "branch1_norm": "shortcut.bn",
    **{f"branch2.conv_{x}": f"conv_{x}" for x in "abc"},
    **{f"branch2.norm_{x}": f"bn_{x}" for x in "abc"},
}
_PTV_RULES: Rules = [
    (
        re.compile(r"blocks\.0\.multipathway_blocks\.([01])\.conv\.(\w+)"),
        lambda m: f"{_PATHWAYS[int(m[1])]}.stem.conv.{m[2]}",
    ),
    (
        re.compile(r"blocks\.0\.multipathway_blocks\.([01])\.norm\.(\w+)"),
        lambda m: f"{_PATHWAYS[int(m[1])]}.stem.bn.{m[2]}",
    ),
    (
        re.compile(r"blocks\.([0-3])\.multipathway_fusion\.conv_fast_to_slow\.(\w+)"),
        lambda m: f"lateral.{_LATERALS[int(m[1])]}.conv.{m[2]}",
    ),
    (
        re.compile(r"blocks\.([0-3])\.multipathway_fusion\.norm\.(\w+)"),
        lambda m: f"lateral.{_LATERALS[int(m[1])]}.bn.{m[2]}",
    ),
    (
        re.compile(
            r"blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.(\d+)\.("
            + "|".join(map(re.escape, _PTV_PARTS))
            + r")\.(\w+)"
        ),
        lambda m: _block(int(m[1]) + 1, m[2], m[3], f"{_PTV_PARTS[m[4]]}.{m[5]}"),
    ),
    (re.compile(r"blocks\.\d+\.proj\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]

# PySlowFast (slowfast/models/video_model_builder.py, SlowFast): s1 = stems, s2-s5 = res2-res5,
# s1_fuse-s4_fuse = lateral connections, head.projection = classifier.
_PYSF_PARTS = {
    "branch1": "shortcut.conv",
    "branch1_bn": "shortcut.bn",
    **{f"branch2.{x}": f"conv_{x}" for x in "abc"},
    **{f"branch2.{x}_bn": f"bn_{x}" for x in "abc"},
}
_PYSF_RULES: Rules = [
    (re.compile(r"s1\.pathway([01])_stem\.(conv|bn)\.(\w+)"), lambda m: f"{_PATHWAYS[int(m[1])]}.stem.{m[2]}.{m[3]}"),
    (
        re.compile(r"s([1-4])_fuse\.(conv_f2s|bn)\.(\w+)"),
        lambda m: f"lateral.{_LATERALS[int(m[1]) - 1]}.{'conv' if m[2] == 'conv_f2s' else 'bn'}.{m[3]}",
    ),
    (
        re.compile(r"s([2-5])\.pathway([01])_res(\d+)\.(" + "|".join(map(re.escape, _PYSF_PARTS)) + r")\.(\w+)"),
        lambda m: _block(int(m[1]), m[2], m[3], f"{_PYSF_PARTS[m[4]]}.{m[5]}"),
    ),
    (re.compile(r"head\.projection\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]


# Single-pathway ResNets (C2D, I3D, Slow): pytorchvideo's create_resnet (blocks.0 = stem, then res2-res5
# as the blocks with res_blocks — a parameter-free pool block sits after res2 in C2D/I3D — and the head
# last) and PySlowFast's ResNet (pathway0 only); vidkit's trunk is "backbone".
def _ptv_resnet(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    stages = sorted({int(m[1]) for k in state if (m := re.match(r"blocks\.(\d+)\.res_blocks\.", k))})
    stage_of = {str(index): 2 + i for i, index in enumerate(stages)}
    rules: Rules = [
        (re.compile(r"blocks\.0\.conv\.(\w+)"), lambda m: f"backbone.stem.conv.{m[1]}"),
        (re.compile(r"blocks\.0\.norm\.(\w+)"), lambda m: f"backbone.stem.bn.{m[1]}"),
        (
            re.compile(
                r"blocks\.("
                + "|".join(stage_of)
                + r")\.res_blocks\.(\d+)\.("
                + "|".join(map(re.escape, _PTV_PARTS))
                + r")\.(\w+)"
            ),
            lambda m: _block(stage_of[m[1]], "0", m[2], f"{_PTV_PARTS[m[3]]}.{m[4]}", ("backbone",)),
        ),
        (re.compile(r"blocks\.\d+\.proj\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
    ]
    return _rename(state, rules, source, "pytorchvideo")


_PYSF_RESNET_RULES: Rules = [
    (re.compile(r"s1\.pathway0_stem\.(conv|bn)\.(\w+)"), lambda m: f"backbone.stem.{m[1]}.{m[2]}"),
    (
        re.compile(r"s([2-5])\.pathway0_res(\d+)\.(" + "|".join(map(re.escape, _PYSF_PARTS)) + r")\.(\w+)"),
        lambda m: _block(int(m[1]), "0", m[2], f"{_PYSF_PARTS[m[3]]}.{m[4]}", ("backbone",)),
    ),
    (re.compile(r"head\.projection\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]
# torchvision's 2D ResNet (conv1/bn1, layerN.M.convK/bnK/downsample.{0,1}, fc); its kernels are inflated.
_TV_PARTS = {
    **{f"conv{i}": f"conv_{x}" for i, x in zip("123", "abc")},
    **{f"bn{i}": f"bn_{x}" for i, x in zip("123", "abc")},
    "downsample.0": "shortcut.conv",
    "downsample.1": "shortcut.bn",
}
_TV_RULES: Rules = [
    (re.compile(r"(conv|bn)1\.(\w+)"), lambda m: f"backbone.stem.{m[1] if m[1] == 'conv' else 'bn'}.{m[2]}"),
    (
        re.compile(r"layer([1-4])\.(\d+)\.(" + "|".join(map(re.escape, _TV_PARTS)) + r")\.(\w+)"),
        lambda m: _block(int(m[1]) + 1, "0", m[2], f"{_TV_PARTS[m[3]]}.{m[4]}", ("backbone",)),
    ),
    (re.compile(r"fc\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]


# mmaction2's ResNet (ConvModule: convK.conv / convK.bn, downsample.conv / .bn; TSM wraps conv1's conv in
# a shift module as .net) and the TSM authors' (base_model. + torchvision names, .net wrapper, new_fc):
# renamed to torchvision's names, then mapped as those.
_TO_TORCHVISION = [
    (re.compile(r"^(backbone|base_model)\."), ""),
    (re.compile(r"\.net\.(weight|bias)$"), r".\1"),
    (re.compile(r"^(cls_head\.fc_cls|new_fc)\."), "fc."),
    (re.compile(r"^conv1\.conv\."), "conv1."),
    (re.compile(r"^conv1\.bn\."), "bn1."),
    (re.compile(r"\.conv(\d)\.conv\."), r".conv\1."),
    (re.compile(r"\.conv(\d)\.bn\."), r".bn\1."),
    (re.compile(r"\.downsample\.conv\."), ".downsample.0."),
    (re.compile(r"\.downsample\.bn\."), ".downsample.1."),
]
_2D_LAYOUTS = ("torchvision", "mmaction2", "TSM")


def _via_torchvision(layout: str) -> Callable[[dict, str], dict]:
    def convert(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        renamed = {}
        for key, value in state.items():
            if key.startswith("data_preprocessor."):  # mmaction2 1.x keeps its normalisation constants here
                continue
            for pattern, replacement in _TO_TORCHVISION:
                key = pattern.sub(replacement, key)
            renamed[key] = value
        return _rename(renamed, _TV_RULES, source, layout)

    return convert


def _converter(rules: Rules, layout: str) -> Callable[[dict, str], dict]:
    return lambda state, source: _rename(state, rules, source, layout)


_CONVERTERS: dict[tuple[str, str], Callable[[dict, str], dict]] = {
    ("pytorchvideo", "slowfast"): _converter(_PTV_RULES, "pytorchvideo"),
    ("PySlowFast", "slowfast"): _converter(_PYSF_RULES, "PySlowFast"),
    ("pytorchvideo", "resnet"): _ptv_resnet,
    ("PySlowFast", "resnet"): _converter(_PYSF_RESNET_RULES, "PySlowFast"),
    ("torchvision", "resnet"): _converter(_TV_RULES, "torchvision"),
    ("mmaction2", "resnet"): _via_torchvision("mmaction2"),
    ("TSM", "resnet"): _via_torchvision("TSM"),
}
