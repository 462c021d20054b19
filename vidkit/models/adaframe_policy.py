"""AdaFrame's learning signal and its exit rule (Wu et al., CVPR 2019, §3.2-3.3): the margin reward,
the discounted returns, REINFORCE for the Gaussian selection policy, and adaptive lookahead."""

from __future__ import annotations

import math

import torch

__all__ = ["exit_steps", "future_returns", "log_prob", "lookahead", "margins", "reinforce", "rewards"]


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
