"""PySlowFast's Caffe2 checkpoints (private): reading them without running code, and their blob names.

PySlowFast's headline Kinetics files (``SLOWFAST_8x8_R50.pkl``, ``I3D_8x8_R50.pkl``, …) are Python 2
pickles (protocol 2) of ``{"blobs": {name: numpy array}, ...}`` written by Caffe2; PySlowFast reads them
with ``pickle.load(f, encoding="latin1")`` and renames each blob with the rules of
``slowfast/utils/c2_model_loading.py`` (``res2_0_branch2a_w`` → ``s2.pathway0_res0.branch2.a.weight``),
dropping the optimiser's blobs (``*_momentum``, ``lr``, ``model_iter``; ``slowfast/utils/checkpoint.py``).

Plain ``pickle.load`` runs whatever a pickle names; :func:`read_caffe2` admits only the globals numpy
arrays and dtypes are rebuilt from (:data:`ADMITTED`) and refuses a pickle that names any other, before
anything is called. The renamed state is in PySlowFast's own PyTorch names, so the families' "PySlowFast"
rules convert it on (the layout is called ``"PySlowFast-Caffe2"`` in messages).
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch

from vidkit.errors import CheckpointError

LAYOUT = "PySlowFast-Caffe2"

# (module, name) of everything a pickle of numpy arrays names: numpy 1.x writes numpy.core, 2.x numpy._core.
ADMITTED = frozenset(
    {
        *(
            (core, name)
            for core in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name in ("_reconstruct", "scalar")
        ),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)
_OPTIMISER_BLOBS = ("momentum", "lr", "model_iter")  # PySlowFast drops blobs whose names hold these
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first value of torch's pre-1.6 (non-zip) files


class _Refused(Exception):
    """A pickle named a global outside :data:`ADMITTED`; ``args[0]`` is its ``module.name``."""


class _NumpyOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dtypes and plain containers, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ADMITTED:
            raise _Refused(f"{module}.{name}")
        import numpy as np

        if module == "numpy":
            return getattr(np, name)
        import importlib

        try:  # the spelling of the installed numpy, whichever the file uses
            return getattr(importlib.import_module("numpy._core.multiarray"), name)
        except ImportError:
            return getattr(importlib.import_module("numpy.core.multiarray"), name)


def looks_like_caffe2(path: str) -> bool:
    """Whether ``path`` is a raw pickle (not torch's zip format, not its older pickled format) that is
    named ``*.pkl`` or has a ``"blobs"`` key among its opening opcodes; read without running any."""
    import pickletools
    import zipfile

    if zipfile.is_zipfile(path):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return False
    blobs = False
    try:
        for i, (opcode, arg, _) in enumerate(pickletools.genops(io.BytesIO(head))):
            if i == 0 and opcode.name != "PROTO":
                return False
            if i == 1 and arg == _TORCH_LEGACY_MAGIC:
                return False
            if arg == "blobs":
                blobs = True
                break
    except Exception:  # noqa: BLE001 - the opcodes run past the first MiB, or it is no pickle
        if not head.startswith(b"\x80"):
            return False
    return blobs or path.lower().endswith(".pkl")


def read_caffe2(path: str) -> Any:
    """The pickle at ``path``, read with ``encoding="latin1"`` (Python 2's ``str`` blobs) by an unpickler
    that admits numpy's :data:`ADMITTED` globals only; every failure is one :class:`CheckpointError` line."""
    try:
        with open(path, "rb") as f:
            return _NumpyOnly(f, encoding="latin1").load()
    except _Refused as e:
        raise CheckpointError(
            path,
            f"refused: it holds code (it asks to run {e.args[0]} when loaded), which was not run "
            "(read as a Caffe2 pickle, which may hold numpy arrays only)",
        ) from None
    except Exception as e:  # noqa: BLE001 - any damage in the file: said in one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(path, f"not a readable Caffe2 pickle ({first})") from None


def is_caffe2(checkpoint: Mapping) -> bool:
    """Whether a loaded checkpoint is Caffe2's ``{"blobs": {...}}``."""
    return isinstance(checkpoint.get("blobs"), Mapping)


# -- blob names -----------------------------------------------------------------------------------
# PySlowFast's rules (slowfast/utils/c2_model_loading.py), each written for a whole name: "t_" marks the
# Fast pathway (pathway1); "_w"/"_b" are a conv's or linear's weight/bias; a BN's "_s", "_b", "_rm",
# "_riv" are its weight, bias, running mean and running variance.
_PARAM = {"w": "weight", "b": "bias"}
_BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_P, _N = r"_(w|b)", r"_bn_(s|b|rm|riv)"


def _pathway(fast: str | None) -> str:
    return "pathway1" if fast else "pathway0"


_RULES: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(r"(t_)?conv1" + _P), lambda m: f"s1.{_pathway(m[1])}_stem.conv.{_PARAM[m[2]]}"),
    (re.compile(r"(t_)?res_conv1" + _N), lambda m: f"s1.{_pathway(m[1])}_stem.bn.{_BN[m[2]]}"),
    # Fast → Slow laterals: after pool1, and after the last block of res2-res4
    (re.compile(r"t_pool1_subsample" + _P), lambda m: f"s1_fuse.conv_f2s.{_PARAM[m[1]]}"),
    (re.compile(r"t_pool1_subsample" + _N), lambda m: f"s1_fuse.bn.{_BN[m[1]]}"),
    (re.compile(r"t_res(\d+)_\d+_branch2c_bn_subsample" + _P), lambda m: f"s{m[1]}_fuse.conv_f2s.{_PARAM[m[2]]}"),
    (re.compile(r"t_res(\d+)_\d+_branch2c_bn_subsample" + _N), lambda m: f"s{m[1]}_fuse.bn.{_BN[m[2]]}"),
    (
        re.compile(r"(t_)?res(\d+)_(\d+)_branch1" + _P),
        lambda m: f"s{m[2]}.{_pathway(m[1])}_res{m[3]}.branch1.{_PARAM[m[4]]}",
    ),
    (
        re.compile(r"(t_)?res(\d+)_(\d+)_branch1" + _N),
        lambda m: f"s{m[2]}.{_pathway(m[1])}_res{m[3]}.branch1_bn.{_BN[m[4]]}",
    ),
    (
        re.compile(r"(t_)?res(\d+)_(\d+)_branch2([a-z])" + _P),
        lambda m: f"s{m[2]}.{_pathway(m[1])}_res{m[3]}.branch2.{m[4]}.{_PARAM[m[5]]}",
    ),
    (
        re.compile(r"(t_)?res(\d+)_(\d+)_branch2([a-z])" + _N),
        lambda m: f"s{m[2]}.{_pathway(m[1])}_res{m[3]}.branch2.{m[4]}_bn.{_BN[m[5]]}",
    ),
    (
        re.compile(r"nonlocal_conv(\d+)_(\d+)_(theta|phi|g|out)" + _P),
        lambda m: f"s{m[1]}.pathway0_nonlocal{m[2]}.conv_{m[3]}.{_PARAM[m[4]]}",
    ),
    (re.compile(r"nonlocal_conv(\d+)_(\d+)" + _N), lambda m: f"s{m[1]}.pathway0_nonlocal{m[2]}.bn.{_BN[m[3]]}"),
    (re.compile(r"pred" + _P), lambda m: f"head.projection.{_PARAM[m[1]]}"),
]


def pyslowfast_name(blob: str) -> str:
    """PySlowFast's PyTorch name of a Caffe2 blob (``t_res3_1_branch2b_bn_riv`` →
    ``s3.pathway1_res1.branch2.b_bn.running_var``); a name no rule takes is returned as it is."""
    for pattern, target in _RULES:
        if m := pattern.fullmatch(blob):
            return target(m)
    return blob


def blobs_to_state(blobs: Mapping, source: str) -> dict[str, torch.Tensor]:
    """The blobs as tensors under PySlowFast's names, the optimiser's blobs dropped. PySlowFast's
    ``*_NOPOOL`` files (``C2D_NOPOOL_8x8_R50.pkl``: no temporal max-pool after res2) are refused: their
    weights fit vidkit's C2D, which pools there, but give other outputs in it; Caffe2 blobs do not record
    the pool, so the file's published name is what tells."""
    import numpy as np

    if "NOPOOL" in os.path.basename(source).upper():
        raise CheckpointError(
            source,
            "refused: a PySlowFast *_NOPOOL network has no temporal pool after res2, which vidkit's C2D and "
            "I3D have, so its weights would give other outputs there",
        )
    state = {}
    for name, value in blobs.items():
        name = str(name)
        if any(part in name for part in _OPTIMISER_BLOBS):
            continue
        if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "fiub":
            value = torch.from_numpy(np.array(value))
        elif not isinstance(value, torch.Tensor):
            raise CheckpointError(source, f"blob {name} of this {LAYOUT} checkpoint is not a numeric array")
        state[pyslowfast_name(name)] = value
    return state
