"""The GPU training path against the plain one, on the device (``pytest -m gpu``; tools/gpu_suite.py runs
them first): AMP's logits close to fp32's, channels-last equal to the default layout, a DDP step of a
one-process NCCL group equal to a plain step, activation checkpointing equal to plain training.

Small inputs, so they take seconds on a GPU; ``VIDKIT_GPU_TESTS_ON_CPU=1`` (the suite's ``--dry-run``)
runs them on the CPU, with bf16 autocast and gloo in place of the CUDA ones. TF32 is turned off where
two layouts or two wrappings are compared: cuDNN may pick other kernels for each, and TF32's 10-bit
mantissa would then hide a real difference behind its own.
"""

from __future__ import annotations

import copy
import socket
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F

from vidkit.engine.loop import Precision, optimizer_step, resolve_precision
from vidkit.models import build, set_activation_checkpointing

pytestmark = pytest.mark.gpu


@contextmanager
def no_tf32():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _model(name: str, device: torch.device, precision: Precision = Precision()):
    torch.manual_seed(0)
    model = build(name, num_classes=10, dropout=0.0, zero_init_final_bn=False)
    return precision.place(model, device)


def _clip(device: torch.device, batch: int = 2, frames: int = 8, size: int = 32):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, frames, size, size, generator=generator)
    y = torch.randint(0, 10, (batch,), generator=generator)
    return x.to(device), y.to(device)


def _train_step(model, x, y, precision: Precision, device: torch.device) -> float:
    """One SGD step as the trainer takes it (vidkit.engine.loop.optimizer_step), no clipping."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    with precision.autocast(device):
        loss = F.cross_entropy(model(precision.prepare(x)).float(), y)
    return optimizer_step(model, loss, optimizer, scaler=None, clip_grad_norm=None)


def _amp(device: torch.device) -> Precision:
    """What ``amp: auto`` gives on the device (bf16 on a GPU that has it); bf16 on the CPU, where auto is off."""
    return resolve_precision("auto" if device.type == "cuda" else "bf16", "off", device)


@pytest.mark.parametrize("name", ["slowfast_r50", "i3d_r50", "tsm_r50"])
def test_amp_logits_are_close_to_fp32s(gpu, name):
    model = _model(name, gpu).eval()
    x, _ = _clip(gpu)
    amp = _amp(gpu)
    with torch.no_grad(), no_tf32():
        exact = model(x).float()
        with amp.autocast(gpu):
            low = model(x).float()
    assert amp.dtype in (torch.bfloat16, torch.float16)
    relative = (low - exact).norm() / exact.norm()
    assert relative < 0.05, f"{name}: AMP logits {relative:.3f} of the fp32 logits' norm away"


def test_channels_last_equals_the_default_layout(gpu):
    """Inference in fp32 with the device's channels-last kernels; a training step in float64, where the
    layouts must agree exactly: in float32, training-mode BatchNorm over a random network's tiny late maps
    turns the kernels' different summation orders into gradients ~10% apart (seen on the CPU)."""
    x, y = _clip(gpu)
    layout = Precision(channels_last=True)
    plain = _model("slowfast_r50", gpu)
    last = _model("slowfast_r50", gpu, layout)
    assert next(p for p in last.parameters() if p.dim() == 5).is_contiguous(memory_format=torch.channels_last_3d)
    with torch.no_grad(), no_tf32():
        torch.testing.assert_close(last.eval()(layout.prepare(x)), plain.eval()(x), rtol=1e-4, atol=1e-4)
    plain, last, x = plain.double(), last.double(), x.double()
    assert _train_step(last, x, y, layout, gpu) == pytest.approx(_train_step(plain, x, y, Precision(), gpu), rel=1e-9)
    for (key, a), b in zip(plain.named_parameters(), last.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-7, atol=1e-9, msg=lambda m, key=key: f"{key}: {m}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_one_process_ddp_step_equals_a_plain_step(gpu):
    """A world of one through DistributedDataParallel (NCCL on a GPU, gloo on the CPU), wrapped as
    ``vidkit train`` wraps under torchrun: the same loss and the same weights after the step."""
    import torch.distributed as dist

    x, y = _clip(gpu)
    plain = _model("i3d_r50", gpu)
    wrapped = copy.deepcopy(plain)
    backend = "nccl" if gpu.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(
            wrapped, device_ids=[gpu.index or 0] if gpu.type == "cuda" else None
        )
        with no_tf32():
            loss_ddp = _train_step(ddp, x, y, Precision(), gpu)
            loss_plain = _train_step(plain, x, y, Precision(), gpu)
        assert dist.get_backend() == backend
    finally:
        dist.destroy_process_group()
    assert loss_ddp == pytest.approx(loss_plain, rel=1e-6)
    for (key, a), b in zip(plain.named_parameters(), wrapped.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=lambda m, key=key: f"{key}: {m}")


@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "amp+channels_last"])
def test_activation_checkpointing_trains_as_plain_training(gpu, amp):
    """One step with every residual block recomputed in the backward pass: the same loss, weights and
    BatchNorm statistics as without (fp32 to float rounding; under AMP to bf16's)."""
    precision = Precision(dtype=_amp(gpu).dtype, channels_last=True) if amp else Precision()
    x, y = _clip(gpu)
    plain = _model("slowfast_r50", gpu, precision)
    checkpointed = copy.deepcopy(plain)
    assert set_activation_checkpointing(checkpointed) == 8
    with no_tf32():
        loss_plain = _train_step(plain, x, y, precision, gpu)
        loss_checkpointed = _train_step(checkpointed, x, y, precision, gpu)
    assert loss_checkpointed == pytest.approx(loss_plain, rel=1e-3 if amp else 1e-6)
    tolerance = {"rtol": 2e-2, "atol": 1e-3} if amp else {"rtol": 1e-4, "atol": 1e-6}
    for (key, a), b in zip(plain.state_dict().items(), checkpointed.state_dict().values()):
        if a.is_floating_point():
            torch.testing.assert_close(b, a, **tolerance, msg=lambda m, key=key: f"{key}: {m}")
        else:  # num_batches_tracked: counted once a step, not again in the recomputation
            assert torch.equal(a, b), key
