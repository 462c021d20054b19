"""PySlowFast's Caffe2 ``.pkl`` checkpoints: written here from pytorchvideo models' random weights under
Caffe2's blob names (the inverse of PySlowFast's ``c2_model_loading.py`` rules), as Python 2 wrote them,
they give vidkit's models pytorchvideo's logits; a pickle that names anything but numpy is refused unrun."""

import pickle
import re
import warnings

import numpy as np
import pytest
import torch

from vidkit.errors import CheckpointError
from vidkit.models import build
from vidkit.models.slowfast import slow_frame_indices

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pytorchvideo's import warns about torch.jit.script
    from pytorchvideo.models.hub import resnet as ptv_resnet
    from pytorchvideo.models.resnet import create_resnet
    from pytorchvideo.models.slowfast import create_slowfast

NUM_CLASSES = 10
RES_DEPTHS = {2: 3, 3: 4, 4: 6, 5: 3}  # ResNet-50's blocks per stage


def _randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Random BN statistics and affine parameters, a classifier of logits of order 1; eval mode."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.3)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, std=0.2, generator=g)
    return model.eval()


# -- pytorchvideo's keys → PySlowFast's PyTorch names (slowfast/models/video_model_builder.py) ----------
_PARTS = {
    "branch1_conv": "branch1",
    "branch1_norm": "branch1_bn",
    **{f"branch2.conv_{x}": f"branch2.{x}" for x in "abc"},
    **{f"branch2.norm_{x}": f"branch2.{x}_bn" for x in "abc"},
}


def pyslowfast_key(key: str, stage_of: dict[int, int]) -> str:
    """pytorchvideo's key (SlowFast's multipathway blocks, or create_resnet's single pathway) → PySlowFast's."""
    if m := re.fullmatch(r"blocks\.0\.multipathway_blocks\.(\d)\.(conv|norm)\.(\w+)", key):
        return f"s1.pathway{m[1]}_stem.{'bn' if m[2] == 'norm' else 'conv'}.{m[3]}"
    if m := re.fullmatch(r"blocks\.0\.(conv|norm)\.(\w+)", key):
        return f"s1.pathway0_stem.{'bn' if m[1] == 'norm' else 'conv'}.{m[2]}"
    if m := re.fullmatch(r"blocks\.(\d)\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(\w+)", key):
        return f"s{int(m[1]) + 1}_fuse.{'bn' if m[2] == 'norm' else 'conv_f2s'}.{m[3]}"
    if m := re.fullmatch(r"blocks\.(\d)\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.(.+)\.(\w+)", key):
        return f"s{int(m[1]) + 1}.pathway{m[2]}_res{m[3]}.{_PARTS[m[4]]}.{m[5]}"
    if m := re.fullmatch(r"blocks\.(\d)\.res_blocks\.(\d+)\.(.+)\.(\w+)", key):
        return f"s{stage_of[int(m[1])]}.pathway0_res{m[2]}.{_PARTS[m[3]]}.{m[4]}"
    if m := re.fullmatch(r"blocks\.\d\.proj\.(\w+)", key):
        return f"head.projection.{m[1]}"
    raise AssertionError(f"unmapped pytorchvideo key {key}")


# -- PySlowFast's names → Caffe2 blobs: PySlowFast's rules (c2_model_loading.py) run backwards ----------
_C2_PARAM = {"weight": "w", "bias": "b"}
_C2_BN = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}


def caffe2_blob(name: str) -> str | None:
    """The Caffe2 blob PySlowFast renames to ``name`` ("t_" = the Fast pathway); None for BN's counter."""
    if name.endswith("num_batches_tracked"):
        return None
    if m := re.fullmatch(r"s1\.pathway(\d)_stem\.conv\.(\w+)", name):
        return f"{'t_' if m[1] == '1' else ''}conv1_{_C2_PARAM[m[2]]}"
    if m := re.fullmatch(r"s1\.pathway(\d)_stem\.bn\.(\w+)", name):
        return f"{'t_' if m[1] == '1' else ''}res_conv1_bn_{_C2_BN[m[2]]}"
    if m := re.fullmatch(r"s(\d)_fuse\.(conv_f2s|bn)\.(\w+)", name):
        # After pool1, or after the last block of res2-res4, where the Caffe2 graph subsamples the Fast features.
        at = "t_pool1_subsample" if m[1] == "1" else f"t_res{m[1]}_{RES_DEPTHS[int(m[1])] - 1}_branch2c_bn_subsample"
        return f"{at}_{_C2_PARAM[m[3]]}" if m[2] == "conv_f2s" else f"{at}_bn_{_C2_BN[m[3]]}"
    if m := re.fullmatch(
        r"s(\d)\.pathway(\d)_res(\d+)\.(branch1|branch1_bn|branch2\.([abc])|branch2\.([abc])_bn)\.(\w+)", name
    ):
        block = f"{'t_' if m[2] == '1' else ''}res{m[1]}_{m[3]}_branch{'1' if m[4].startswith('branch1') else '2'}"
        block += m[5] or m[6] or ""
        return f"{block}_bn_{_C2_BN[m[7]]}" if m[4].endswith("_bn") else f"{block}_{_C2_PARAM[m[7]]}"
    if m := re.fullmatch(r"head\.projection\.(\w+)", name):
        return f"pred_{_C2_PARAM[m[1]]}"
    raise AssertionError(f"no Caffe2 blob for {name}")


class _Python2Pickler(pickle.Pickler):
    """Pickles numpy arrays as Python 2 did: the raw data as a ``str`` (read back with ``encoding="latin1"``),
    so that nothing but numpy's own globals is named (Python 3 would name ``_codecs.encode`` for bytes)."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            reconstruct = np.ndarray.__reduce__(obj)[0]
            state = (1, obj.shape, obj.dtype, False, obj.tobytes().decode("latin1"))
            return reconstruct, (np.ndarray, (0,), "b"), state
        if isinstance(obj, np.generic):
            scalar = obj.__reduce__()[0]
            return scalar, (obj.dtype, obj.tobytes().decode("latin1"))
        return NotImplemented


def write_caffe2(path, state: dict[str, torch.Tensor], stage_of: dict[int, int], spelling: str) -> None:
    """``state`` (pytorchvideo's) as a Caffe2 ``.pkl``: ``{"blobs": {blob: float32 array}}`` with the
    optimiser's blobs that the real files hold too, pickle protocol 2, numpy named as ``spelling``."""
    blobs = {}
    for key, value in state.items():
        blob = caffe2_blob(pyslowfast_key(key, stage_of))
        if blob is not None:
            blobs[blob] = value.numpy().astype(np.float32)
            blobs[f"{blob}_momentum"] = np.zeros_like(blobs[blob])
    blobs["lr"] = np.array([0.1], dtype=np.float32)
    blobs["model_iter"] = np.int64(196 * 3000)
    import io

    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump({"blobs": blobs})
    data = buffer.getvalue()
    for core in (b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"):
        data = data.replace(b"c" + core, b"c" + spelling.encode() + b"\n")
    assert b"_codecs" not in data and b"torch" not in data
    path.write_bytes(data)


# -- the models -----------------------------------------------------------------------------------
FRAMES, SIZE = 32, 64


def _slowfast(name: str):
    alpha, kernel = {"slowfast_r50": (4, 7), "slowfast_r50_4x16": (8, 5)}[name]
    torch.manual_seed(0)
    model = create_slowfast(
        model_num_class=NUM_CLASSES,
        slowfast_fusion_conv_kernel_size=(kernel, 1, 1),
        slowfast_fusion_conv_stride=(alpha, 1, 1),
        head_pool_kernel_sizes=((FRAMES // alpha, 2, 2), (FRAMES, 2, 2)),
    )
    clip = torch.randn(2, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    model = _randomise(model)
    with torch.no_grad():  # pytorchvideo rewrites the list it is given: a fresh one
        logits = model([clip.index_select(2, slow_frame_indices(FRAMES, alpha)), clip.clone()])
    return model, clip, logits, {}


def _resnet(name: str):
    torch.manual_seed(0)
    if name == "slow_r50":  # its hub function fixes the head's pool; the same architecture, our head size
        model = create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(8, 2, 2), model_num_class=10)
    else:
        model = getattr(ptv_resnet, name)(head_pool_kernel_size=(4, 2, 2), model_num_class=NUM_CLASSES)
    clip = torch.randn(2, 3, 8, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    model = _randomise(model)
    with torch.no_grad():
        logits = model(clip)
    return model, clip, logits, {"temporal_padding": "zeros"} if name == "i3d_r50" else {}


MODELS = {"slowfast_r50": _slowfast, "slowfast_r50_4x16": _slowfast, "slow_r50": _resnet, "i3d_r50": _resnet}
MODELS["c2d_r50"] = _resnet


# Python 2's numpy named numpy.core, as the published files do; numpy 2 names numpy._core.
CASES = [(name, "numpy.core.multiarray") for name in sorted(MODELS)] + [("slow_r50", "numpy._core.multiarray")]


@pytest.mark.parametrize(("name", "spelling"), CASES)
def test_caffe2_pickles_give_pytorchvideos_logits(name, spelling, tmp_path):
    model, clip, expected, options = MODELS[name](name)
    state = model.state_dict()
    stages = sorted({int(m[1]) for k in state if (m := re.match(r"blocks\.(\d+)\.res_blocks\.", k))})
    path = tmp_path / f"{name.upper()}.pkl"
    write_caffe2(path, state, {index: 2 + i for i, index in enumerate(stages)}, spelling)
    ours = build(name, num_classes=NUM_CLASSES, weights=path, **options).eval()
    with torch.no_grad():
        logits = ours(clip)
    assert expected.abs().max() > 0.5  # real numbers compared, not near-zeros
    assert (logits - expected).abs().max() / expected.abs().max() < 1e-4


def test_caffe2_blob_names_follow_pyslowfasts_rules():
    """Spot checks against the examples in PySlowFast's c2_model_loading.py and its SlowFast files."""
    assert caffe2_blob("s2.pathway0_res0.branch2.a.weight") == "res2_0_branch2a_w"
    assert caffe2_blob("s1.pathway0_stem.bn.weight") == "res_conv1_bn_s"
    assert caffe2_blob("s4_fuse.bn.running_mean") == "t_res4_5_branch2c_bn_subsample_bn_rm"
    assert caffe2_blob("s3.pathway1_res0.branch1_bn.running_var") == "t_res3_0_branch1_bn_riv"


def test_a_nopool_file_is_refused(tmp_path):
    model, clip, _, _ = _resnet("c2d_r50")
    path = tmp_path / "C2D_NOPOOL_8x8_R50.pkl"
    write_caffe2(path, model.state_dict(), {1: 2, 3: 3, 4: 4, 5: 5}, "numpy.core.multiarray")
    with pytest.raises(CheckpointError) as e:
        build("c2d_r50", num_classes=NUM_CLASSES, weights=path)
    message = str(e.value)
    assert (
        message.startswith(f"{path}: refused: a PySlowFast *_NOPOOL network has no temporal pool")
        and "\n" not in message
    )


class _Command:
    """Pickles as a call to os.system: loading it with plain pickle would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


class _Eval:
    """Pickles as a call to builtins.eval."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import builtins

        return (builtins.eval, (f"open({self.marker!r}, 'w')",))


class _NumpySave:
    """Pickles as a call to numpy.save: a numpy global, but not one that rebuilds an array."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (np.save, (self.marker, np.zeros(1, dtype=np.float32)))


@pytest.mark.parametrize("payload", [_Command, _Eval, _NumpySave])
@pytest.mark.parametrize("filename", ["SLOWFAST_8x8_R50.pkl", "evil.pt"])
def test_a_caffe2_pickle_holding_code_is_refused_unrun(tmp_path, payload, filename):
    marker, path = tmp_path / "executed", tmp_path / filename
    blobs = {"conv1_w": np.zeros((2, 3, 1, 1, 1), dtype=np.float32), "res_conv1_bn_s": payload(marker)}
    with open(path, "wb") as f:
        _Python2Pickler(f, protocol=2).dump({"blobs": blobs})
    with pytest.raises(CheckpointError) as e:
        build("slowfast_r50", num_classes=NUM_CLASSES, weights=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [filename]  # no marker file: nothing ran
    message = str(e.value)
    assert message.startswith(f"{path}: refused: it holds code (it asks to run ") and "\n" not in message
    assert re.search(r"run (posix|nt|__builtin__|numpy)\.(system|eval|save) when loaded\), which was not run", message)
    assert "read as a Caffe2 pickle" in message  # refused by the numpy-only reader, not by torch.load


def test_a_damaged_caffe2_pickle_is_one_line(tmp_path):
    path = tmp_path / "SLOW_8x8_R50.pkl"
    write_caffe2(path, {}, {}, "numpy.core.multiarray")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=r"SLOW_8x8_R50.pkl: not a readable Caffe2 pickle \(") as e:
        build("slow_r50", num_classes=NUM_CLASSES, weights=path)
    assert "\n" not in str(e.value)
