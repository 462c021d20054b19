"""compile_model: torch.compile as a training option that never stops a run — the compiled model
gives the eager outputs and shares its parameters, and a compiler failure falls back to eager."""

import torch
import torch.nn as nn

from vidkit.engine.checkpoint import unwrap
from vidkit.engine.loop import compile_model


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2)
    )


def test_compiled_model_matches_eager_and_unwraps_to_it():
    model = _model()
    compiled = compile_model(model, backend="eager")  # dynamo's graph capture without a C++ compiler
    x = torch.randn(2, 3, 4, 8, 8)
    torch.testing.assert_close(compiled(x), model(x))
    assert unwrap(compiled) is model
    assert set(unwrap(compiled).state_dict()) == set(model.state_dict())


def test_a_compiler_failure_runs_eagerly_instead():
    calls = []

    def broken(graph, example_inputs):
        calls.append(1)
        raise RuntimeError("no C++ compiler here")

    model = _model()
    x = torch.randn(2, 3, 4, 8, 8)
    out = compile_model(model, backend=broken)(x)
    assert calls, "the backend was not tried"
    torch.testing.assert_close(out, model(x))
