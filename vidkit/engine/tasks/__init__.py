"""Tasks: one per kind of input a model takes, knowing how that model is fed and read — its training
data, its test views and evaluation, and how it labels a file. The jobs ask the model's task and never
branch on a model's name or kind.

==============  =====================================================  ===============================
task            input                                                  models
==============  =====================================================  ===============================
``video``       RGB clips, one label per clip                          the zoo's clip classifiers
``adaptive``    candidate frames over the whole video, chosen by a     ``adaframe``
                policy that decodes only what it looks at
``compressed``  I-frames, motion vectors and residuals                 ``coviar``
``persons``     RGB clips with person boxes, labels per person         ``action_transformer``,
                                                                       ``i3d_roi_head``
==============  =====================================================  ===============================

A model's card names its task (``register_model(..., task="adaptive")``); :func:`task_for` finds it.
A new kind of input is a new :class:`Task` subclass registered with :func:`register_task`; the jobs
then train, evaluate and tag its models as they are.
"""

from __future__ import annotations

from vidkit.engine.tasks._base import (
    ClipSettings,
    EvalRequest,
    Task,
    TrainData,
    get_task,
    list_tasks,
    register_task,
    task_for,
)

# The built-in tasks, which register themselves on import.
from vidkit.engine.tasks.compressed import CompressedDomain
from vidkit.engine.tasks.persons import PersonActions
from vidkit.engine.tasks.video import AdaptiveFrames, VideoClips

__all__ = [
    "AdaptiveFrames",
    "ClipSettings",
    "CompressedDomain",
    "EvalRequest",
    "PersonActions",
    "Task",
    "TrainData",
    "VideoClips",
    "get_task",
    "list_tasks",
    "register_task",
    "task_for",
]
