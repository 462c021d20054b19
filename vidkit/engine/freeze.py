"""Partial freezing for fine-tuning: parameters named by prefix keep their values, and the BatchNorm
layers among them keep their running statistics (a frozen layer whose statistics still drifted with
the new data would no longer compute what it was trained to).

``model.freeze: [slow.stem, fast.stem, slow.res2]`` freezes by parameter-name prefix (a prefix
matches a name equal to it or followed by a dot: ``slow.res2`` is not ``slow.res20``);
``model.freeze: backbone`` freezes everything but the classifier (the parameters
:func:`vidkit.models.classifier_parameter_names` names: what ``reset_classifier`` replaces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch.nn as nn

from vidkit.errors import ConfigError

BACKBONE = "backbone"  # the word for "every parameter but the classifier's"


def frozen_parameter_names(model: nn.Module, prefixes: Sequence[str], *, model_name: str) -> list[str]:
    """The names of ``model``'s parameters that ``prefixes`` freeze; a prefix that matches none is a
    one-line :class:`ConfigError` naming the model's top-level parts (works on a model built on the
    ``meta`` device, to check a config before any work)."""
    names = [name for name, _ in model.named_parameters()]
    chosen: set[str] = set()
    for prefix in prefixes:
        if prefix == BACKBONE and not any(_matches(n, prefix) for n in names):
            from vidkit.models import classifier_parameter_names

            head = set(classifier_parameter_names(model))
            chosen.update(n for n in names if n not in head)
            continue
        hits = [n for n in names if _matches(n, prefix)]
        if not hits:
            parts = sorted({n.split(".")[0] for n in names})
            raise ConfigError(
                f"model.freeze: {prefix!r} names no parameter of {model_name} (its parts: {', '.join(parts)}; "
                f"a prefix such as {names[0].rsplit('.', 1)[0]!r}, or {BACKBONE!r} for all but the classifier)"
            )
        chosen.update(hits)
    return [n for n in names if n in chosen]


@dataclass(frozen=True)
class Frozen:
    """What :func:`freeze` fixed: the parameter names, their count of values, and the normalisation
    layers whose statistics stay as loaded (:meth:`hold_statistics` after every ``model.train()``)."""

    names: tuple[str, ...]
    values: int
    total_values: int
    norms: tuple[nn.Module, ...]

    def hold_statistics(self) -> None:
        for norm in self.norms:
            norm.eval()

    def describe(self) -> str:
        return (
            f"{len(self.names)} parameter tensors frozen ({self.values / 1e6:.1f}M of "
            f"{self.total_values / 1e6:.1f}M values), {len(self.norms)} BatchNorm layers' statistics held"
        )


def freeze(model: nn.Module, prefixes: Sequence[str], *, model_name: str) -> Frozen:
    """Set ``requires_grad=False`` on the parameters ``prefixes`` name (:func:`frozen_parameter_names`);
    the BatchNorm layers all of whose parameters are frozen keep their running statistics."""
    names = set(frozen_parameter_names(model, prefixes, model_name=model_name))
    values = 0
    for name, param in model.named_parameters():
        if name in names:
            param.requires_grad_(False)
            values += param.numel()
    norms = []
    for module_name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            own = [f"{module_name}.{n}" if module_name else n for n, _ in module.named_parameters(recurse=False)]
            if own and all(n in names for n in own):
                norms.append(module)
    total = sum(p.numel() for p in model.parameters())
    return Frozen(tuple(sorted(names)), values, total, tuple(norms))


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


__all__ = ["BACKBONE", "Frozen", "freeze", "frozen_parameter_names"]
