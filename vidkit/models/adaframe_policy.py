"""AdaFrame's learning signal and its exit rule (Wu et al., CVPR 2019, §3.2-3.3): the margin reward,
the discounted returns, REINFORCE for the Gaussian selection policy, adaptive lookahead, and the
:class:`Episode` that looks at a batch of videos one step at a time until the rule stops each."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

__all__ = [
    "Episode",
    "Result",
    "exit_steps",
    "future_returns",
    "log_prob",
    "lookahead",
    "margins",
    "reinforce",
    "rewards",
]


def margins(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``m``: the ground-truth class's probability minus the largest other one, per step: ``logits
    [B, K, C]`` → ``[B, K]`` in [-1, 1]."""
    p = logits.float().softmax(-1)
    truth = p.gather(-1, targets[:, None, None].expand(-1, p.shape[1], 1)).squeeze(-1)
    others = p.scatter(-1, targets[:, None, None].expand(-1, p.shape[1], 1), -1.0).amax(-1)
    return truth - others


def rewards(m: torch.Tensor) -> torch.Tensor:
    """``r_t = max(0, m_t − max_{t'<t} m_t')`` (§3.2) for margins ``[B, K]``; the best margin before the
    first step is 0, what a uniform guess has."""
    before = torch.cat([torch.zeros_like(m[:, :1]), m[:, :-1]], dim=1).cummax(dim=1).values.clamp(min=0)
    return (m - before).clamp(min=0)


def future_returns(r: torch.Tensor, gamma: float) -> torch.Tensor:
    """``G_t = Σ_{k>t} γ^{k−t−1} r_k``: the discounted reward of the frames still to come after step t
    (what the location chosen at step t earns, and what the utility predicts), ``[B, K]``, 0 at the last step."""
    out = torch.zeros_like(r)
    running = torch.zeros_like(r[:, 0])
    for t in range(r.shape[1] - 2, -1, -1):
        running = r[:, t + 1] + gamma * running
        out[:, t] = running
    return out


def log_prob(mean: torch.Tensor, sample: torch.Tensor, std: float) -> torch.Tensor:
    """Log-density of ``sample`` under the selection policy, a Gaussian of ``std`` around ``mean``."""
    return -0.5 * ((sample - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


def reinforce(mean: torch.Tensor, sample: torch.Tensor, advantage: torch.Tensor, std: float) -> torch.Tensor:
    """REINFORCE with a baseline (Williams 1992): ``−mean(advantage · log π(sample | mean))``, whose
    gradient moves each ``mean [B, K-1]`` toward samples that did better than the utility expected
    (``advantage`` = return − utility, held constant)."""
    return -(advantage.detach() * log_prob(mean, sample.detach(), std)).mean()


def exit_steps(utility: torch.Tensor, *, margin: float, patience: int) -> torch.Tensor:
    """Adaptive lookahead (§3.3) on utilities ``[B, K]``: the number of frames each video looks at — the
    first step at which the utility has failed, ``patience`` steps running, to exceed the maximum of
    the ones before by more than ``margin`` (``K`` when that never happens)."""
    b, k = utility.shape
    used = torch.full((b,), k, dtype=torch.long, device=utility.device)
    best = torch.full((b,), -math.inf, device=utility.device)
    stalled = torch.zeros(b, dtype=torch.long, device=utility.device)
    for t in range(k):
        best, stalled = lookahead(utility[:, t].float(), best, stalled, margin=margin)
        used = torch.where((stalled >= patience) & (used == k), torch.full_like(used, t + 1), used)
    return used


def lookahead(utility: torch.Tensor, best: torch.Tensor, stalled: torch.Tensor, *, margin: float):
    """One step of the exit rule: the running maximum of the utilities and the count of steps in a row
    that did not beat the one before it by more than ``margin``."""
    stalled = torch.where(utility > best + margin, torch.zeros_like(stalled), stalled + 1)
    return torch.maximum(best, utility), stalled


@dataclass
class Result:
    """What inference did per video: ``logits [B, C]`` at the stopping step, ``frames [B]`` the backbone
    frames it looked at, ``locations [B, K]`` where (NaN after it stopped); ``hidden [B, hidden]`` is the
    LSTM's hidden state at the stopping step, what the classifier read the logits from."""

    logits: torch.Tensor
    frames: torch.Tensor
    locations: torch.Tensor
    utilities: torch.Tensor = field(default=None, repr=False)
    hidden: torch.Tensor = field(default=None, repr=False)


class Episode:
    """A batch of videos being looked at, one frame per step, until each stops — the inference loop
    shared by :meth:`AdaFrame.infer` (frames from a tensor) and :mod:`vidkit.data.adaframe` (frames
    decoded on demand) over ``num_candidates`` candidates a video. :meth:`choose` says which candidate each
    active video looks at next; :meth:`observe` takes those frames.

    ``model`` is an :class:`~vidkit.models.adaframe.AdaFrame` (this module does not import it: the model
    imports the maths above); ``memory`` its global memory of the batch, None for a model without one."""

    def __init__(
        self,
        model: nn.Module,
        memory: torch.Tensor | None,
        *,
        batch: int,
        num_candidates: int,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ):
        self.model, self.memory, self.num_candidates = model, memory, num_candidates
        self.state = model.initial_state(batch, device, dtype)
        self.location = model.first_location(batch, device).clone()
        self.active = torch.ones(batch, dtype=torch.bool, device=device)
        k = model.steps
        self.logits = None
        self.frames = torch.zeros(batch, dtype=torch.long, device=device)
        self.locations = torch.full((batch, k), math.nan, device=device)
        self.utilities = torch.full((batch, k), math.nan, device=device)
        self._best = torch.full((batch,), -math.inf, device=device)
        self._stalled = torch.zeros(batch, dtype=torch.long, device=device)
        self._looked = torch.zeros(batch, num_candidates, dtype=torch.bool, device=device)

    def choose(self) -> torch.Tensor:
        """The candidate index ``[A]`` each active video looks at next (see :meth:`AdaFrame.choose`)."""
        idx = self.active.nonzero().squeeze(1)
        looked = self._looked[idx]
        index, self.location[idx] = self.model.choose(self.location[idx], self.num_candidates, looked)
        self._looked[idx] = looked
        return index

    @property
    def done(self) -> bool:
        return not bool(self.active.any())

    @torch.no_grad()
    def observe(self, frames: torch.Tensor | None, *, features: torch.Tensor | None = None) -> None:
        """Take the frames ``[A, 3, H, W]`` of the active videos (the candidates :meth:`choose` gave), in
        batch order (or their backbone ``features``, computed in advance)."""
        model, idx = self.model, self.active.nonzero().squeeze(1)
        t = self.frames[idx]  # every active video is at the same step
        step = model.step(
            frames,
            self.location[idx],
            (self.state[0][idx], self.state[1][idx]),
            None if self.memory is None else self.memory[idx],
            features=features,
        )
        if self.logits is None:
            self.logits = torch.zeros(self.active.shape[0], step.logits.shape[-1], device=self.active.device)
        self.logits[idx] = step.logits.float()
        self.state[0][idx], self.state[1][idx] = step.state
        self.locations[idx, t] = self.location[idx]
        self.utilities[idx, t] = step.utility.float()
        self.frames[idx] += 1
        n = int(t[0]) + 1
        stop = self.frames[idx] >= model.steps
        if model.policy == "adaptive":
            self._best[idx], self._stalled[idx] = lookahead(
                step.utility.float(), self._best[idx], self._stalled[idx], margin=model.exit_margin
            )
            stop |= self._stalled[idx] >= model.exit_patience
        if n < model.steps:
            self.location[idx] = model.next_location(step, n - 1).to(self.location.dtype)
        self.active[idx[stop]] = False

    def result(self) -> Result:
        return Result(self.logits, self.frames, self.locations, self.utilities, self.state[0])
