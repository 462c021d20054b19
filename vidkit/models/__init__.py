"""Models: every classifier takes one float tensor ``[B, C, T, H, W]`` and returns logits ``[B, num_classes]``.

``vidkit.models.build(name, num_classes=...)`` builds any registered model.
"""

from vidkit.models import tv_resnet3d  # noqa: F401  (registers its models)
from vidkit.models.registry import build, list_models, register_model, resolve

__all__ = ["build", "list_models", "register_model", "resolve"]
