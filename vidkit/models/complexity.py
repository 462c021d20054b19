"""Model complexity as the papers quote it: parameters, and GFLOPs counted by fvcore on convolutions and
matrix products only.

The counting convention is PySlowFast's and pytorchvideo's (fvcore's ``FlopCountAnalysis``): one
fused multiply-add is one FLOP, and only convolutions and linear layers / matrix products count —
batch norm, pooling and activations are left out. With it SlowFast R50 8×8 is 65.71 GFLOPs on one
32-frame 256² clip, the figure of the paper's Table 2 (65.7).
"""

from __future__ import annotations

import functools
import warnings

import torch
import torch.nn as nn


def count_params(model: nn.Module) -> int:
    """Every parameter, trainable or not (buffers such as BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def gflops(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """GFLOPs (10⁹ multiply-adds) of one forward pass of ``model`` in eval mode on a zero tensor of
    ``input_shape`` (batch included: ``(1, 3, 32, 256, 256)``), convolutions and matrix products only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's import and the JIT tracer are noisy on today's PyTorch
        from fvcore.nn import FlopCountAnalysis
        from fvcore.nn import jit_handles as h

        # Only these ops count; fvcore's others (batch_norm, pooling, upsampling, …) are switched off.
        handles = {
            "aten::_convolution": h.conv_flop_jit,
            "aten::linear": h.linear_flop_jit,
            "aten::addmm": h.addmm_flop_jit,
            "aten::matmul": h.matmul_flop_jit,
            "aten::mm": h.matmul_flop_jit,
            "aten::bmm": h.bmm_flop_jit,
        }
        param = next(model.parameters(), None)
        x = torch.zeros(input_shape, device=param.device if param is not None else "cpu")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                analysis = FlopCountAnalysis(model, x)
                analysis.clear_op_handles()
                analysis.set_op_handle(**handles)
                analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
                total = analysis.total()
        finally:
            model.train(was_training)
    return total / 1e9


def model_figures(name: str, *, flops: bool = True) -> dict:
    """A registered model's row for ``vidkit models``: name, aliases, parameters with 400 classes, GFLOPs
    at its card's default input (None without one, or with ``flops=False``), the input, and the paper."""
    from vidkit.models.registry import model_card

    card = model_card(name)
    params, gf = _figures(card.name, flops and card.input_shape is not None)
    return {
        "name": card.name,
        "aliases": list(card.aliases),
        "params": params,
        "gflops": gf,
        "input": None if card.input_shape is None else {"frames": card.input_frames, "size": card.input_size},
        "paper": card.paper,
    }


@functools.cache
def _figures(name: str, flops: bool) -> tuple[int, float | None]:
    # Cached per process: tracing a model at full size takes seconds.
    from vidkit.models.registry import build, model_card

    model = build(name, num_classes=400)
    return count_params(model), (round(gflops(model, model_card(name).input_shape), 2) if flops else None)
