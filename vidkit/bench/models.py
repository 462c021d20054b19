"""Model throughput: clips/s of vidkit's networks in eval forward and train forward+backward, in fp32
eager and the faster paths (AMP, channels-last, ``torch.compile``), next to pytorchvideo's implementation
of the same network with the same weights (SlowFast R50, I3D R50), in one run on the same clips.

Every configuration is timed in turn within each repeat and keeps its best repeat, so drift in the
machine's load hits them alike. Before timing, vidkit's fp32 logits are checked against pytorchvideo's
(the same weights, loaded through :func:`vidkit.models.load_weights`) and each faster path against
vidkit's fp32: ``max_abs_diff`` says how close they are. Peak memory is the CUDA allocator's peak
(not measured on the CPU); ``activations_mb`` what one training forward keeps for the backward pass,
on any device — the figure activation checkpointing (the ``checkpointing`` path) cuts.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = ("slowfast_r50", "i3d_r50", "tsm_r50")
PATHS = ("fp32", "channels_last", "checkpointing", "amp", "amp+channels_last", "compile")
# A path is fp32 or any "+"-joined set of these (e.g. amp+channels_last+checkpointing), in any order.
FEATURES = ("amp", "channels_last", "checkpointing", "compile")
# What `vidkit bench` times unless told: bf16 autocast on a CPU runs 3D convolutions without fast kernels
# (far slower than fp32: docs/performance.md), so the CPU default leaves it out.
DEFAULT_PATHS = {
    "cpu": ("fp32", "channels_last", "checkpointing"),
    "cuda": ("fp32", "channels_last", "checkpointing", "amp", "amp+channels_last"),
}


@dataclass
class ModelRow:
    """One measured configuration. ``path`` is one of :data:`PATHS`, ``impl`` vidkit or
    pytorchvideo; the rates are clips/s; ``ratio_vs_pytorchvideo`` is this row's rate over pytorchvideo's
    fp32 eager rate for the same mode (None without a peer); ``error`` says why a path could not run."""

    model: str
    impl: str
    path: str
    batch: int
    frames: int
    size: int
    forward_clips_per_s: float | None = None
    train_clips_per_s: float | None = None
    peak_memory_mb: float | None = None
    activations_mb: float | None = None  # kept for the backward pass by one training forward (saved_activations_mb)
    max_abs_diff: float | None = None
    ratio_vs_pytorchvideo: dict | None = None
    ratio_vs_fp32: dict | None = None  # this row's rates over vidkit's own fp32 eager (when measured)
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _pytorchvideo_peer(name: str, *, frames: int, size: int) -> nn.Module | None:
    """pytorchvideo's network for ``name`` behind vidkit's contract (one clip in), or None without one.
    Their heads pool a fixed window, sized here to the final feature map (= vidkit's global average)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytorchvideo's import warns about torch.jit.script
        if name == "slowfast_r50":
            from pytorchvideo.models.slowfast import create_slowfast

            final = size // 32
            model = create_slowfast(
                model_num_class=400,
                slowfast_fusion_conv_kernel_size=(7, 1, 1),
                slowfast_fusion_conv_stride=(4, 1, 1),
                head_pool_kernel_sizes=((frames // 4, final, final), (frames, final, final)),
            )
            return _Pathways(model, alpha=4)
        if name == "i3d_r50":
            from pytorchvideo.models.hub.resnet import i3d_r50

            return i3d_r50(model_num_class=400, head_pool_kernel_size=(frames // 2, size // 32, size // 32))
    return None


class _Pathways(nn.Module):
    """pytorchvideo's SlowFast takes a list of the two pathways (and rewrites it): take them as PySlowFast does."""

    def __init__(self, model: nn.Module, alpha: int):
        super().__init__()
        self.model, self.alpha = model, alpha

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        from vidkit.models.slowfast import slow_frame_indices

        slow = clip.index_select(2, slow_frame_indices(clip.shape[2], self.alpha, clip.device))
        return self.model([slow, clip])


def _vidkit(name: str, peer: nn.Module | None) -> nn.Module:
    """vidkit's model, with the peer's weights when there is one (so the outputs can be compared)."""
    from vidkit.models import build, load_weights

    options = {"temporal_padding": "zeros"} if name == "i3d_r50" else {}  # pytorchvideo pads time with zeros
    model = build(name, num_classes=400, **options)
    if peer is not None:
        inner = peer.model if isinstance(peer, _Pathways) else peer
        load_weights(model, {"model_state": inner.state_dict()}, model_name=name)
    return model


def _amp_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(run: Callable[[], None], device: torch.device) -> float | None:
    """The allocator's peak above what was allocated before ``run``, on CUDA; None on the CPU, where the
    process's memory says little (the allocator keeps what earlier models freed)."""
    if device.type != "cuda":
        run()
        return None
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    run()
    _synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def path_features(path: str) -> frozenset[str]:
    """What a path turns on: ``"fp32"`` nothing, ``"amp+channels_last"`` those two (:data:`FEATURES`)."""
    parts = frozenset() if path == "fp32" else frozenset(path.split("+"))
    unknown = sorted(parts - set(FEATURES))
    if unknown or not path:
        raise ValueError(
            f"unknown model path {path!r}: fp32 or a '+'-joined set of {', '.join(FEATURES)} "
            f"(e.g. {', '.join(PATHS[1:])})"
        )
    return parts


def _path_runner(
    model: nn.Module, path: str, device: torch.device, compile_backend: str = "inductor"
) -> tuple[nn.Module, Callable]:
    """The model as ``path`` runs it, and the context each call runs under."""
    features = path_features(path)
    autocast = (
        (lambda: torch.autocast(device.type, dtype=_amp_dtype(device))) if "amp" in features else contextlib.nullcontext
    )
    if "channels_last" in features:
        model = model.to(memory_format=torch.channels_last_3d)
    if "checkpointing" in features:  # every residual block recomputed in the backward pass
        from vidkit.models import set_activation_checkpointing

        set_activation_checkpointing(model)
    if "compile" in features:
        model = torch.compile(model, backend=compile_backend)
    return model, autocast


def model_rows(
    names=MODELS,
    *,
    batch: int = 2,
    frames: int = 8,
    size: int = 64,
    repeats: int = 3,
    device: torch.device | str = "cpu",
    paths=None,
    peers: bool = True,
    compile_backend: str = "inductor",
) -> list[ModelRow]:
    """Measure every model of ``names`` on every path of ``paths`` (default: :data:`DEFAULT_PATHS` for the
    device) and its pytorchvideo peer in fp32 eager. ``compile_backend``: torch.compile's backend for
    the paths with ``compile`` (``"eager"`` traces without generating code: a quick check of the path)."""
    device = torch.device(device)
    paths = paths or DEFAULT_PATHS[device.type]
    for path in paths:
        path_features(path)
    if size % 32:
        raise ValueError(f"size {size}: a multiple of 32, so pytorchvideo's fixed head pool fits the final map")
    rows: list[ModelRow] = []
    for name in names:
        torch.manual_seed(0)
        peer = _pytorchvideo_peer(name, frames=frames, size=size) if peers else None
        base = _vidkit(name, peer)
        clip = torch.randn(batch, 3, frames, size, size, device=device)
        labels = torch.randint(0, 400, (batch,), device=device)
        with torch.no_grad():
            reference = base.to(device).eval()(clip).float()
        configs: dict[tuple[str, str], tuple[nn.Module, Callable]] = {}
        errors: dict[tuple[str, str], str] = {}
        if peer is not None:
            configs["pytorchvideo", "fp32"] = (peer.to(device), contextlib.nullcontext)
        for path in paths:
            try:
                configs["vidkit", path] = _path_runner(copy.deepcopy(base), path, device, compile_backend)
            except Exception as e:  # noqa: BLE001 — a path that cannot be built is reported, not fatal
                errors["vidkit", path] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        diffs, rates, peaks = {}, {}, {}
        for key, (model, autocast) in list(configs.items()):
            try:
                with torch.no_grad(), autocast():
                    diffs[key] = (model.eval()(_memory_format(clip, key[1])).float() - reference).abs().max().item()
            except Exception as e:  # noqa: BLE001 — e.g. torch.compile without a working compiler
                errors[key] = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"
                del configs[key]
        for mode in ("forward", "train"):
            runs = {
                key: _step(model, autocast, _memory_format(clip, key[1]), labels, mode)
                for key, (model, autocast) in configs.items()
            }
            for key, run in runs.items():  # warm-up (kernel choice, the allocator, compilation), and the peak
                peaks[key, mode] = _peak_memory_mb(run, device)
            for r in range(repeats):
                for key in list(runs) if r % 2 == 0 else list(runs)[::-1]:
                    _synchronize(device)
                    start = time.perf_counter()
                    runs[key]()
                    _synchronize(device)
                    rates[key, mode] = max(rates.get((key, mode), 0.0), batch / (time.perf_counter() - start))
        for key in [*configs, *errors]:
            impl, path = key
            row = ModelRow(name, impl, path, batch, frames, size, error=errors.get(key))
            if key in configs:
                row.forward_clips_per_s = round(rates[key, "forward"], 3)
                row.train_clips_per_s = round(rates[key, "train"], 3)
                row.peak_memory_mb = _round(
                    max(filter(None, [peaks[key, "forward"], peaks[key, "train"]]), default=None)
                )
                row.max_abs_diff = diffs[key]
                if "compile" not in path_features(path):
                    with configs[key][1]():
                        row.activations_mb = _round(saved_activations_mb(configs[key][0], _memory_format(clip, path)))
                if impl == "vidkit" and ("vidkit", "fp32") in configs:
                    row.ratio_vs_fp32 = {
                        m: round(rates[key, m] / rates[("vidkit", "fp32"), m], 3) for m in ("forward", "train")
                    }
                if ("pytorchvideo", "fp32") in configs:
                    peer_key = ("pytorchvideo", "fp32")
                    row.ratio_vs_pytorchvideo = {
                        m: round(rates[key, m] / rates[peer_key, m], 3) for m in ("forward", "train")
                    }
            rows.append(row)
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _memory_format(clip: torch.Tensor, path: str) -> torch.Tensor:
    channels_last = "channels_last" in path_features(path)
    return clip.contiguous(memory_format=torch.channels_last_3d) if channels_last else clip


def _step(model: nn.Module, autocast, clip: torch.Tensor, labels: torch.Tensor, mode: str) -> Callable[[], None]:
    def forward():
        model.eval()
        with torch.inference_mode(), autocast():
            model(clip)

    def train():
        model.train()
        model.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(model(clip).float(), labels)
        loss.backward()

    return forward if mode == "forward" else train


def saved_activations_mb(model: nn.Module, clip: torch.Tensor) -> float:
    """Megabytes of the tensors autograd keeps for the backward pass of one training forward of ``model``
    on ``clip`` (each storage once): the activation memory of training, measured the same way on any
    device, and what activation checkpointing (:func:`vidkit.models.set_activation_checkpointing`) cuts."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), t.device)] = storage.nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(clip)
    del out
    return sum(seen.values()) / 2**20
