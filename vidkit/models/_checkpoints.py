"""Checkpoint plumbing (private): reading a file safely, telling its layout by its keys, and the table of
converters each model family registers for other projects' layouts.

A family owns the translation of other projects' checkpoints into its own names (timm's
``checkpoint_filter_fn`` passed per model): its module calls :func:`register_converters` with its class
and one converter per layout, and :func:`vidkit.models.weights.load_weights` asks :func:`converter_for`
with the model, found through the model's class hierarchy (TSM, a :class:`~vidkit.models.resnet.ResNet3d`,
takes the ResNets' converters). This module imports no model, so no module needs every model class.

The key-renaming helpers the families share (pytorchvideo's and PySlowFast's names for a bottleneck's
parts, a rule table applied to every key) are here too.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from vidkit.errors import CheckpointError
from vidkit.models import _caffe2

PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel's and torch.compile's
LAYOUTS_2D = ("torchvision", "mmaction2", "TSM")  # 2D networks: their kernels are inflated after conversion

Converter = Callable[[dict[str, torch.Tensor], str], dict[str, torch.Tensor]]  # (state, source) -> state
Rules = list[tuple[re.Pattern, Callable[[re.Match], str]]]


# -- reading and unwrapping -----------------------------------------------------------------------
def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, with every failure as one
    :class:`CheckpointError` line (no such file, pickled objects refused, damaged file)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(path, "no such file")
    if _caffe2.looks_like_caffe2(path):  # PySlowFast's Caffe2 pickles: numpy arrays only
        return _caffe2.read_caffe2(path)
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
        code = re.search(r"unsupported GLOBAL (\S+) whose module \S+ is blocked", message)
        code = code[1] if code else _called_global(path)
        if code is not None:
            raise CheckpointError(
                path,
                f"refused: it holds code (it asks to run {code} when loaded), which was not run "
                "(read with weights_only=True)",
            ) from None
        found = re.search(r"WeightsUnpickler error:\s*(.+)", message)
        raise CheckpointError(
            path, f"not a readable PyTorch checkpoint ({found[1].strip() if found else 'unpickling failed'})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(path, f"not a readable PyTorch checkpoint ({first})") from None


# Pickle opcodes that call what a GLOBAL imported: a pickle holding them runs code when loaded.
_CALLS = frozenset({"REDUCE", "NEWOBJ", "NEWOBJ_EX", "INST", "OBJ", "BUILD"})
# What torch's own checkpoints call (tensors rebuilt, ordered dicts, bytes): never the code in question.
_LOADER_OWN = ("torch.", "collections.", "_codecs.")


def _called_global(path: str) -> str | None:
    """The first ``module.name`` a pickle (a raw one, or the ``data.pkl`` of torch's zip format) imports
    and calls, read from its opcodes without running any; None when it calls nothing or cannot be read."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                data = archive.read(name) if name else b""
        else:
            with open(path, "rb") as f:
                data = f.read(1 << 20)  # a pickle's code sits in its opening opcodes; tensors follow
        strings: list[str] = []
        imported: list[str] = []
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                imported.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                imported.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
            if opcode.name in _CALLS and imported and not imported[-1].startswith(_LOADER_OWN):
                return imported[-1]
    except Exception:  # noqa: BLE001 - not a pickle we can read: the caller words it as unreadable
        return None
    return None


def unwrap_checkpoint(checkpoint: Any, source: str) -> tuple[str, dict[str, torch.Tensor], str | None]:
    """(layout, state dict with prefixes dropped, the model name the checkpoint records if any)."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(source, f"holds a {type(checkpoint).__name__}, not a checkpoint dictionary")
    if _caffe2.is_caffe2(checkpoint):  # blob names → PySlowFast's; the families' PySlowFast rules go on
        return _caffe2.LAYOUT, _caffe2.blobs_to_state(checkpoint["blobs"], source), None
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
    state = {strip_prefixes(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if (
        meta_name is not None
    ):  # vidkit's own checkpoint says what it holds (AdaFrame's "backbone.layer1." is not mmaction2's)
        layout = "vidkit"
    elif any(k.startswith("blocks.") and (".multipathway_" in k or ".res_blocks." in k) for k in state):
        layout = "pytorchvideo"
    elif any(re.match(r"s1\.pathway\d_stem\.", k) for k in state):
        layout = "PySlowFast"
    elif any(re.match(r"backbone\.layer\d\.\d+\.conv2\.conv\.(alpha|fc1\.weight)$", k) for k in state):
        layout = "CoST"  # the CoST authors' mmaction2 ResNet3dCoST: a CoSTa's alpha or a CoSTb's fc1
    elif any(k.startswith("backbone.layer1.") for k in state):
        layout = "mmaction2"
    elif any(re.match(r"base_model\.layer\d\.\d+\.Tconv\.", k) for k in state):
        layout = "GST"  # the GST authors' (chenxuluo/GST-video): base_model. + new_fc, like TSM's, and a Tconv
    elif any(k.startswith("base_model.layer1.") for k in state):
        layout = "TSM"
    elif "conv1.weight" in state and "layer1.0.conv1.weight" in state:
        layout = "torchvision"
    else:
        layout = "vidkit"
    return layout, state, meta_name if isinstance(meta_name, str) else None


def strip_prefixes(key: str) -> str:
    """``key`` without any of the wrappers' :data:`PREFIXES`, however nested (``module._orig_mod.x`` → ``x``)."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def examples(items: list[str], n: int = 3) -> str:
    """The first ``n`` of ``items`` for an error line, with an ellipsis when there are more."""
    return ", ".join(items[:n]) + (", …" if len(items) > n else "")


# -- the families' converters ---------------------------------------------------------------------
@dataclass(frozen=True)
class ConverterFamily:
    """The converters registered with one model class: ``converters`` maps a layout to its converter;
    ``description`` names the models the family covers in an error line ("SlowFast models")."""

    cls: type
    description: str
    converters: Mapping[str, Converter]


_FAMILIES: dict[type, ConverterFamily] = {}


def register_converters(cls: type, converters: Mapping[str, Converter], *, description: str) -> None:
    """Register ``cls``'s converters, one per layout (``{"pytorchvideo": convert, ...}``): a model that is
    an instance of ``cls`` (a subclass included) loads checkpoints of those layouts. A class registered
    twice raises."""
    if cls in _FAMILIES:
        raise ValueError(f"checkpoint converters for {cls.__name__} are registered twice")
    _FAMILIES[cls] = ConverterFamily(cls, description, dict(converters))


def converter_for(model: object, layout: str, *, after: type | None = None) -> Converter | None:
    """The converter of ``layout`` registered for the nearest class of ``model`` (through its MRO) whose
    family converts it, so a subclass's family adds layouts to its parent's or overrides them; with
    ``after``, only the classes past ``after`` in the MRO are asked (a converter that builds on its
    parent's). None when no family converts ``layout``. A converter marked :func:`with_model` is
    returned bound to ``model``."""
    mro = type(model).__mro__
    if after is not None:
        mro = mro[mro.index(after) + 1 :]
    for cls in mro:
        family = _FAMILIES.get(cls)
        if family is not None and layout in family.converters:
            convert = family.converters[layout]
            if getattr(convert, "needs_model", False):
                return lambda state, source: convert(state, source, model)
            return convert
    return None


def with_model(convert: Callable[[dict[str, torch.Tensor], str, Any], dict[str, torch.Tensor]]):
    """Mark a converter that also takes the model it loads into, as ``convert(state, source, model)``: for
    a layout that lacks some of the model's parts (a 2D ImageNet network started into GST's temporal
    group), whose fresh initialisation it keeps, or whose shapes decide the conversion."""
    convert.needs_model = True
    return convert


def families_converting(layout: str) -> list[str]:
    """The descriptions of the families that convert ``layout``, in the order of their class names."""
    return [f.description for f in sorted(_FAMILIES.values(), key=lambda f: f.cls.__name__) if layout in f.converters]


# -- renaming keys --------------------------------------------------------------------------------
def rename(state: dict[str, torch.Tensor], rules: Rules, source: str, layout: str) -> dict[str, torch.Tensor]:
    """Every key renamed by the first rule whose pattern matches it whole; a key no rule takes is an error."""
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
            f"model (e.g. {examples(unknown)})",
        )
    return out


def renamer(rules: Rules, layout: str) -> Converter:
    """A converter that applies ``rules`` (see :func:`rename`)."""
    return lambda state, source: rename(state, rules, source, layout)


def block_key(stage: int, pathway: str, index: str, part: str, pathways: tuple[str, ...]) -> str:
    """vidkit's name of a bottleneck's ``part``: ``{pathways[pathway]}.res{stage}.block{index + 1}.{part}``."""
    return f"{pathways[int(pathway)]}.res{stage}.block{int(index) + 1}.{part}"


# pytorchvideo's and PySlowFast's names of a bottleneck's parts → vidkit's (Bottleneck's)
PTV_BLOCK_PARTS = {
    "branch1_conv": "shortcut.conv",
    "branch1_norm": "shortcut.bn",
    **{f"branch2.conv_{x}": f"conv_{x}" for x in "abc"},
    **{f"branch2.norm_{x}": f"bn_{x}" for x in "abc"},
}
PYSF_BLOCK_PARTS = {
    "branch1": "shortcut.conv",
    "branch1_bn": "shortcut.bn",
    **{f"branch2.{x}": f"conv_{x}" for x in "abc"},
    **{f"branch2.{x}_bn": f"bn_{x}" for x in "abc"},
}


def any_of(names) -> str:
    """A regex alternative of ``names``, each taken literally."""
    return "|".join(map(re.escape, names))
