"""What fine-tuning options need from the model and the data before training starts: the options checked
against the model (on the ``meta`` device: no memory, no weights), and the weights that balance the
classes of a training split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from vidkit.engine.freeze import frozen_parameter_names
from vidkit.engine.loop import has_own_objective
from vidkit.errors import ConfigError

__all__ = ["balancing", "check_model_options"]


def check_model_options(
    name: str, options: Mapping, *, freeze: Sequence[str], layer_decay: float, class_weights: str
) -> None:
    """Refuse, in one line and before any data is read, the options that cannot apply to model ``name``
    (built with ``options``): a ``model.freeze`` prefix that names no parameter, ``optim.layer_decay`` on a
    model without stages, ``data.class_weights`` on a model that trains on its own objective."""
    from vidkit.models import STAGE_NAMES, build, parameter_stages

    if not (freeze or layer_decay != 1.0 or class_weights != "none"):
        return
    try:
        with torch.device("meta"):
            model = build(name, num_classes=2, **dict(options))
    except TypeError as e:
        raise ConfigError(f"model.options {dict(options)}: {e}") from None
    frozen_parameter_names(model, freeze, model_name=name)
    if layer_decay != 1.0 and parameter_stages(model) is None:
        raise ConfigError(
            f"optim.layer_decay={layer_decay}: {name} has no stages ({', '.join(STAGE_NAMES)}) "
            "to decay the learning rate by; leave it at 1.0 (optim.head_lr_mult still sets the classifier's rate)"
        )
    if class_weights != "none" and has_own_objective(model):
        raise ConfigError(
            f"data.class_weights={class_weights}: {name} trains on its own objective, "
            "not one weighted cross-entropy; use data.sampler=balanced instead"
        )


def balancing(labels: Sequence[int], num_classes: int, *, class_weights: str, sampler: str, views: int = 1) -> dict:
    """The trainer's ``class_weights`` (``"balanced"``: N / (classes x the class's clips), scikit-learn's
    "balanced") or ``sample_weights`` (``sampler="balanced"``: one over the clip's class size, for each of
    a clip's ``views`` items), from the training split's labels; ``{}`` when neither is asked for."""
    if class_weights == "none" and sampler == "random":
        return {}
    counts = torch.bincount(torch.tensor(list(labels)), minlength=num_classes).double()
    if class_weights == "balanced":
        return {"class_weights": (len(labels) / (num_classes * counts.clamp(min=1))).float()}
    return {"sample_weights": [1.0 / float(counts[label]) for label in labels for _ in range(views)]}
