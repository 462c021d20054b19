"""Training, evaluation and inference: what the jobs compose.

=================  ===================================================================================
module             what it holds
=================  ===================================================================================
``tasks``          one task per kind of input (clips, adaptive frames, compressed domain, person
                   boxes): how a model is fed and read in training, evaluation and tagging
``inference``      a model loaded for inference in one call, with its classes and recipe
``trainer``        the epoch driver: checkpoints, resume, logging; ``objectives``: what it optimises
``evaluation``     the multi-view evaluation of clip models and its report
``tagger``         labelling files: crash-isolated decoding workers, batched model calls
``results``        results files written one record per input, resumable
``loop``           training and validation steps, mixed precision; ``optim``: optimiser and schedule
``checkpoint``     checkpoints that load with ``weights_only=True``; ``config``: typed configs
``distributed``    ``torchrun``/DDP set-up; ``logging``: JSONL and W&B; ``plots``; ``metrics``
=================  ===================================================================================

The names below are importable from ``vidkit.engine`` itself (loaded when first used).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ClipObjective": "objectives",
    "ClipSettings": "tasks",
    "EvalRequest": "tasks",
    "LoadedModel": "inference",
    "PersonObjective": "objectives",
    "ResultsFile": "results",
    "Tagger": "tagger",
    "Task": "tasks",
    "TrainData": "tasks",
    "Trainer": "trainer",
    "load_checkpoint": "checkpoint",
    "load_for_inference": "inference",
    "load_model": "inference",
    "register_task": "tasks",
    "save_checkpoint": "checkpoint",
    "tag_record": "results",
    "task_for": "tasks",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"vidkit.engine.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vidkit.engine' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
