"""Models: every classifier takes one float tensor ``[B, C, T, H, W]`` and returns logits ``[B, num_classes]``.

``vidkit.models.build(name, num_classes=..., weights=...)`` builds any registered model, optionally
loading a checkpoint; ``model_card(name)`` says its default input and paper; ``count_params`` and
``gflops`` give the figures ``vidkit models`` prints. ``build_finetune`` starts a model on another label set
from a checkpoint (a fresh classifier); ``classifier_parameter_names`` and ``parameter_stages`` tell the
parameters apart for freezing and layer-wise learning-rate decay.
"""

from vidkit.models import (  # noqa: F401  (importing a model family registers its models)
    action_transformer,
    adaframe,
    attention_clusters,
    cost,
    coviar,
    fast3d,
    gst,
    resnet,
    slowfast,
    tsm,
    tv_resnet3d,
)
from vidkit.models._resnet3d import set_activation_checkpointing
from vidkit.models.complexity import count_params, gflops
from vidkit.models.finetune import (
    STAGE_NAMES,
    FineTuneStart,
    build_finetune,
    classifier_parameter_names,
    fetch_weights,
    parameter_stages,
)
from vidkit.models.inflate import inflate, inflate_weight
from vidkit.models.registry import ModelCard, build, list_models, model_card, register_model, resolve
from vidkit.models.slowfast import SlowFast
from vidkit.models.weights import load_weights

__all__ = [
    "STAGE_NAMES",
    "FineTuneStart",
    "ModelCard",
    "SlowFast",
    "build",
    "build_finetune",
    "classifier_parameter_names",
    "count_params",
    "fetch_weights",
    "gflops",
    "inflate",
    "inflate_weight",
    "list_models",
    "load_weights",
    "model_card",
    "parameter_stages",
    "register_model",
    "resolve",
    "set_activation_checkpointing",
]
