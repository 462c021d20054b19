"""AdaFrame: "Adaptive Frame Selection for Fast Video Recognition" (Wu et al., CVPR 2019).

A memory-augmented LSTM looks at one frame per step and decides where to look next and when to stop
(§3). Its parts, as in the paper:

* **Global memory** (§3.1): a light network (MobileNetV2) over ``memory_frames`` (16) uniformly
  spaced frames downsampled to ``memory_size`` (112²), each feature projected and given a positional
  encoding of its time; read with soft attention keyed on the previous hidden state.
* **The LSTM** (§3.1): at step t it takes ``[v_t, u_t]``, the main backbone's feature of the frame it
  is looking at and the memory read-out (the uniform baseline, without a memory: ``v_t`` alone). Three
  heads read its hidden state: a classifier (a prediction at every step), the selection network (a
  sigmoid location in normalised time for the next frame; in training drawn from a Gaussian around it,
  standard deviation 0.1) and the utility network (the expected future reward).
* **Reward** (§3.2): ``r_t = max(0, m_t − max_{t'<t} m_t')``, ``m_t`` the margin of the ground-truth
  class's probability over the largest other one. The loss: cross-entropy at every step, REINFORCE
  for the selection network with the utility as baseline, and the utility regressed onto the
  discounted return (``gamma`` 0.9), over ``steps`` steps (K = 10 in the paper). The maths is in
  :mod:`vidkit.models.adaframe_policy`.
* **Adaptive lookahead inference** (§3.3): stop once the predicted utility has not exceeded its
  running maximum by ``exit_margin`` for ``exit_patience`` consecutive steps, or at ``steps`` frames.

Four departures from the paper, all options (the paper's choice is the default):

* ``memory_arch="backbone"``: the memory reads its frames through the main backbone (each still frame
  repeated over a snippet's channels). The paper's MobileNetV2 comes pretrained on ImageNet; one trained
  from scratch on the policy's losses alone tells the evidence frames from the rest less well than the
  pretrained backbone's features do (a linear probe on the synthetic long variant: docs/adaframe.md).
* ``locate="memory"``: the selection network's output is added, as a logit, to the time the memory is
  read at (the attention weights, keyed on the new hidden state, averaged over the memory frames'
  times). On the synthetic long variant the paper's selector, trained by REINFORCE with a 0.1 std,
  settles on the same few seconds for every video although the memory's attention is on the evidence
  window from the second step (docs/adaframe.md): Gaussian exploration around one place never
  samples a window several seconds away, so it cannot learn to jump there.
* ``revisit=False``: each look goes to the nearest candidate the video has not looked at yet, and the
  step is given that candidate's time. The paper's selection network may send the LSTM back to a
  candidate it has seen — the same input again, a step spent for nothing. On the synthetic long variant
  most looks of a policy trained with the two options above are such repeats (docs/adaframe.md): having
  found the evidence window it stays on one snippet of it, where the neighbouring candidates would show more.
* ``time_input=True``: the LSTM also takes the encoding of the frame's time (:func:`time_encoding`, as
  the memory's frames carry it), ``[v_t, u_t, time_t]``. The paper's LSTM is not told where the frame it
  looks at lies in the video: a motion seen at t=0.6 then at t=0.4 cannot be told from its reverse (the
  paper's FCVID classes need no order; synthetic-motion's reversal pairs do, though a snippet of several
  frames shows the motion itself). vidkit's checkpoints record the option; those written before it was
  one had the time input and load with it (the model card's ``checkpoint_defaults``).

``freeze_backbone=True`` keeps the main backbone as it was loaded (no gradient, batch-norm statistics
fixed) while the LSTM, its heads, the feature projection and the memory learn: the paper's backbone
is fine-tuned on the target set before the policy is trained on its features. Training then runs the
backbone forward only — several times cheaper for the 10-25 frames of every video.

Input — the model contract's one tensor, the video's candidate frames::

    x            [B, 3, T·S, H, W]  T candidates spread over the whole video (TSN segment centres; 25 in
                                    the paper), each a snippet of S frames (``snippet``; 1 in the paper)
    memory       the middle frame of candidates round(linspace(0, T-1, 16)) → memory_size² → light net → [B, 16, d]
    step t       candidate round(loc_t · (T-1)), its S frames stacked on channels [B, 3·S, H, W]
                 → backbone → v_t [B, embed]; LSTM on [v_t, u_t (the memory read-out), time_t (with
                 time_input)] [B, embed·(1-3)] → logits_t, loc_{t+1}, utility_t
    output       the logits at the step each video stopped          [B, num_classes]

``model(x)`` is that inference; ``model.loss(x, targets)`` runs one training episode (Gaussian
exploration, every step's prediction) and returns ``(logits, loss)``, the objective AdaFrame trains on.

Snippets follow the paper's footnote 1 ("frame" may mean stacked RGB images): a 2D backbone on one
still frame cannot tell which way synthetic-motion's objects move, and its global pooling hardly
keeps where they are; three frames stacked show the motion itself.

``policy="uniform"`` is the paper's baseline with the same networks: the LSTM over ``steps`` frames
at fixed uniform locations, no memory, no early exit. :mod:`vidkit.data.adaframe` runs either on a
video file, decoding only the frames the policy asks for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from einops import rearrange

from vidkit.models._adaframe_imagenet import from_torchvision, imagenet_state
from vidkit.models._checkpoints import register_converters
from vidkit.models.adaframe_policy import Episode, Result, future_returns, margins, reinforce, rewards
from vidkit.models.registry import register_model

POLICIES = ("adaptive", "uniform")
LOCATE = ("hidden", "memory")  # the selection network's input: the paper's hidden state, or also where the memory looks


def trunk(arch: str, in_channels: int = 3) -> tuple[nn.Module, int]:
    """A torchvision 2D classification network without its last linear layer, and its feature width:
    any of ``torchvision.models.list_models(torchvision.models)`` with a ``fc`` or ``classifier`` head;
    its first convolution takes ``in_channels`` (a snippet of frames stacked on channels)."""
    try:
        net = torchvision.models.get_model(arch, weights=None)
    except ValueError:
        raise ValueError(
            f"unknown 2D backbone {arch!r}: use a torchvision classification model name, e.g. "
            "resnet18, resnet50, mobilenet_v2, efficientnet_b0"
        ) from None
    head_name = "fc" if isinstance(getattr(net, "fc", None), nn.Linear) else "classifier"
    head = getattr(net, head_name, None)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)] if isinstance(head, nn.Module) else []
    if not linears:
        raise ValueError(f"2D backbone {arch!r} has no linear classifier (fc or classifier) to take features before")
    if head is linears[-1]:
        setattr(net, head_name, nn.Identity())
    else:  # a classifier block: keep what comes before its last linear layer
        parent = next(m for m in head.modules() if any(c is linears[-1] for c in m.children()))
        name = next(n for n, c in parent.named_children() if c is linears[-1])
        setattr(parent, name, nn.Identity())
    if in_channels != 3:
        parent, name, first = next(
            (m, n, c) for m in net.modules() for n, c in m.named_children() if isinstance(c, nn.Conv2d)
        )
        setattr(
            parent,
            name,
            nn.Conv2d(
                in_channels,
                first.out_channels,
                first.kernel_size,
                first.stride,
                first.padding,
                bias=first.bias is not None,
            ),
        )
    return net, linears[-1].in_features


def stack_snippet(frames: torch.Tensor) -> torch.Tensor:
    """A snippet's frames ``[B, 3, S, H, W]`` stacked on channels for a 2D backbone: ``[B, 3·S, H, W]``."""
    return rearrange(frames, "b c s h w -> b (s c) h w")


def memory_times(m: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The normalised times ``[m]`` of the global memory's frames: uniformly spaced, first and last included."""
    return torch.linspace(0, 1, m, device=device) if m > 1 else torch.zeros(1, device=device)


def candidate_index(location: torch.Tensor, num_candidates: int, looked: torch.Tensor | None = None) -> torch.Tensor:
    """The candidate frame nearest to each ``location`` in normalised time: ``[B]`` long. With ``looked``
    (``[B, num_candidates]`` bool, the candidates each video has looked at), the nearest one not looked at
    yet (the lower on a tie); the nearest of all once every one has been."""
    position = location.detach().float().clamp(0, 1) * (num_candidates - 1)
    if looked is None:
        return position.round().long()
    distance = (position[:, None] - torch.arange(num_candidates, device=position.device)).abs()
    fresh = distance.masked_fill(looked, math.inf)
    return torch.where(looked.all(-1), position.round().long(), fresh.argmin(-1))


def time_encoding(tau: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encoding ``[..., dim]`` of normalised times ``tau`` in [0, 1] (frequencies π·1 … π·64,
    geometric: the slowest tells the start from the end, the fastest neighbouring frames apart)."""
    freqs = math.pi * torch.logspace(0, math.log10(64), dim // 2, device=tau.device, dtype=torch.float32)
    angles = tau.float()[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def lstm_inputs(embed: int, *, memory: bool, time_input: bool) -> dict[str, slice]:
    """Where each part of the LSTM's input lies in it (the columns of ``lstm.weight_ih``): ``frame`` (the
    backbone's projected feature, v_t), ``memory`` (the read-out u_t, with a global memory), ``time``
    (with ``time_input``), each ``embed`` wide, in that order."""
    parts = ["frame", *(["memory"] if memory else []), *(["time"] if time_input else [])]
    return {part: slice(i * embed, (i + 1) * embed) for i, part in enumerate(parts)}


def _state_lstm_inputs(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, slice] | None:
    """:func:`lstm_inputs` of an AdaFrame state dict, told from its tensors: the memory by ``memory_proj``,
    the time input by the LSTM input's width; None when the state has no such LSTM."""
    weight, proj = state.get(f"{prefix}lstm.weight_ih"), state.get(f"{prefix}frame_proj.weight")
    if weight is None or proj is None or weight.ndim != 2:
        return None
    embed, memory = proj.shape[0], f"{prefix}memory_proj.weight" in state
    for time_input in (False, True):
        parts = lstm_inputs(embed, memory=memory, time_input=time_input)
        if weight.shape[1] == len(parts) * embed:
            return parts
    return None


@dataclass
class Step:
    """One step's outputs: ``logits [B, C]``, ``location [B]`` (where the policy wants to look next, in
    [0, 1]), ``utility [B]`` and the LSTM's new ``state``."""

    logits: torch.Tensor
    location: torch.Tensor
    utility: torch.Tensor
    state: tuple[torch.Tensor, torch.Tensor]


class AdaFrame(nn.Module):
    def __init__(
        self,
        *,
        num_classes: int,
        backbone: str = "resnet101",
        memory_arch: str = "mobilenet_v2",
        memory_frames: int = 16,
        memory_size: int = 112,
        hidden: int = 512,
        embed: int = 256,
        steps: int = 10,
        policy: str = "adaptive",
        start: float = 0.5,
        std: float = 0.1,
        gamma: float = 0.9,
        policy_weight: float = 1.0,
        utility_weight: float = 1.0,
        exit_margin: float = 0.0,
        exit_patience: int = 2,
        dropout: float = 0.5,
        snippet: int = 1,
        freeze_backbone: bool = False,
        locate: str = "hidden",
        revisit: bool = True,
        time_input: bool = False,
    ):
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
        if steps < 1 or memory_frames < 0 or snippet < 1:
            raise ValueError(
                f"steps ({steps}) and snippet ({snippet}) must be >= 1 and memory_frames ({memory_frames}) >= 0"
            )
        if locate not in LOCATE:
            raise ValueError(f"locate must be one of {', '.join(LOCATE)}, not {locate!r}")
        self.locate, self.revisit = locate, bool(revisit)
        self.snippet = int(snippet)
        self.policy, self.steps, self.start, self.std, self.gamma = (
            policy,
            steps,
            float(start),
            float(std),
            float(gamma),
        )
        self.policy_weight, self.utility_weight = float(policy_weight), float(utility_weight)
        self.exit_margin, self.exit_patience = float(exit_margin), int(exit_patience)
        self.memory_frames = memory_frames if policy == "adaptive" else 0
        self.memory_size, self.embed = memory_size, embed
        self.backbone, width = trunk(backbone, 3 * self.snippet)
        self.backbone_arch, self.memory_arch = backbone, memory_arch
        self.freeze_backbone = bool(freeze_backbone)
        if self.freeze_backbone:
            self.backbone.requires_grad_(False)
        self.frame_proj = nn.Linear(width, embed)
        if self.memory_frames:
            # "backbone": the memory's frames go through the main backbone (each still frame repeated over
            # a snippet's channels) — pretrained features for the overview, where no light network pretrained
            # on the domain exists; it then costs memory_frames backbone passes at memory_size²
            self.memory_net, memory_width = (None, width) if memory_arch == "backbone" else trunk(memory_arch)
            self.memory_proj = nn.Linear(memory_width, embed)
            self.query = nn.Linear(hidden, embed, bias=False)
        self.time_input = bool(time_input)
        self.lstm = nn.LSTMCell(embed * len(self.lstm_parts()), hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)
        self.selector = nn.Linear(hidden, 1)
        self.utility = nn.Linear(hidden, 1)

    def lstm_parts(self) -> dict[str, slice]:
        """Where the frame's feature, the memory's read-out and the time lie in the LSTM's input
        (:func:`lstm_inputs`)."""
        return lstm_inputs(self.embed, memory=bool(self.memory_frames), time_input=self.time_input)

    def checkpoint_options(self) -> dict[str, bool]:
        """What the weights compute besides their values, recorded in vidkit's checkpoints: whether the LSTM
        takes the frame's time (weights trained with it have a wider LSTM input)."""
        return {"time_input": self.time_input}

    def train(self, mode: bool = True) -> AdaFrame:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()  # a frozen backbone's batch-norm statistics stay as loaded
        return self

    # -- the parts a step is made of ----------------------------------------------------------------

    def memory_indices(self, num_candidates: int) -> list[int]:
        """Which of ``num_candidates`` frames the global memory sees: uniformly spaced, first and last included."""
        m, n = self.memory_frames, int(num_candidates)  # int: a size is a tensor while the JIT traces (GFLOPs)
        return [round(i * (n - 1) / max(m - 1, 1)) for i in range(m)] if m else []

    def memory(self, frames: torch.Tensor) -> torch.Tensor | None:
        """The global memory ``[B, M, embed]`` from ``frames [B, 3, M, H, W]`` (the memory's frames, at any
        size: downsampled here to ``memory_size``); None for a model without one."""
        if not self.memory_frames:
            return None
        b, _, m = frames.shape[:3]
        small = rearrange(frames, "b c m h w -> (b m) c h w")
        if small.shape[-2:] != (self.memory_size, self.memory_size):
            small = F.interpolate(
                small, size=(self.memory_size, self.memory_size), mode="bilinear", antialias=True, align_corners=False
            )
        if self.memory_net is None:
            trunk_features = self._backbone(small.repeat(1, self.snippet, 1, 1))
        else:
            trunk_features = self.memory_net(small)
        features = rearrange(self.memory_proj(trunk_features), "(b m) d -> b m d", b=b)
        return features + time_encoding(memory_times(m, frames.device), self.embed).to(features.dtype)

    def read(self, memory: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft attention over ``memory [B, M, d]`` keyed on the hidden state ``h [B, hidden]``: the read-out
        ``[B, d]`` and the weights ``[B, M]`` (scaled dot product)."""
        scores = torch.einsum("bmd,bd->bm", memory, self.query(h)) / math.sqrt(self.embed)
        weights = scores.float().softmax(-1).to(memory.dtype)
        return torch.einsum("bm,bmd->bd", weights, memory), weights

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32):
        h = torch.zeros(batch, self.lstm.hidden_size, device=device, dtype=dtype)
        return h, torch.zeros_like(h)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """The backbone's projected features ``[N, embed]`` of frames ``[N, 3, H, W]``."""
        return self.frame_proj(self._backbone(frames))  # with a frozen backbone, the projection still learns

    def _backbone(self, frames: torch.Tensor) -> torch.Tensor:
        if self.freeze_backbone:
            with torch.no_grad():
                return self.backbone(frames)
        return self.backbone(frames)

    def step(
        self,
        frame: torch.Tensor | None,
        location: torch.Tensor,
        state,
        memory: torch.Tensor | None,
        features: torch.Tensor | None = None,
    ) -> Step:
        """Look at ``frame [B, 3, H, W]`` (at ``location [B]`` in normalised time) from ``state``; or at
        its ``features`` when they were computed in advance (the uniform baseline's, all in one batch)."""
        h, c = state
        parts = [self.features(frame) if features is None else features]
        if memory is not None:
            parts.append(self.read(memory, h)[0])
        if self.time_input:  # vidkit's option; the paper's input is [v_t, u_t]
            parts.append(time_encoding(location, self.embed).to(parts[0].dtype))
        h, c = self.lstm(torch.cat(parts, dim=-1), (h, c))
        logits = self.classifier(self.dropout(h))
        location = self.selector(h).squeeze(-1)
        if self.locate == "memory" and memory is not None:  # start from the time the memory now attends to
            location = location + torch.logit(self.attended_time(memory, h), eps=1e-3).to(location.dtype)
        return Step(logits, torch.sigmoid(location), self.utility(h).squeeze(-1), (h, c))

    def attended_time(self, memory: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The memory's frame times ``[B]`` (normalised) averaged with the attention that ``h`` reads it with."""
        _, weights = self.read(memory, h)
        return (weights.float() * memory_times(memory.shape[1], memory.device)).sum(-1)

    def choose(self, location: torch.Tensor, num_candidates: int, looked: torch.Tensor | None):
        """Where each video looks for the policy's ``location [B]``: ``(candidate index [B], the location the
        step is given)``. Without ``revisit`` the nearest candidate not in ``looked`` (``[B, T]``, updated
        here) and its time; otherwise the nearest candidate, the location as it is."""
        index = candidate_index(location, num_candidates, None if self.revisit else looked)
        if self.revisit or looked is None:
            return index, location
        looked[torch.arange(len(index), device=index.device), index] = True
        return index, (index.float() / max(num_candidates - 1, 1)).to(location.dtype)

    def uniform_locations(self, device: torch.device) -> torch.Tensor:
        k = self.steps
        return torch.linspace(0, 1, k, device=device) if k > 1 else torch.full((1,), 0.5, device=device)

    def first_location(self, batch: int, device: torch.device) -> torch.Tensor:
        if self.policy == "uniform":
            return self.uniform_locations(device)[:1].expand(batch)
        return torch.full((batch,), self.start, device=device)

    def next_location(self, step: Step, t: int) -> torch.Tensor:
        """Where to look at step ``t + 1``: the policy's location at inference, the baseline's fixed one."""
        if self.policy == "uniform":
            return self.uniform_locations(step.logits.device)[t + 1].expand(step.logits.shape[0])
        return step.location

    # -- training and inference on a tensor of candidate frames ---------------------------------------

    @property
    def num_features(self) -> int:
        """Width of what the classifier reads: the LSTM's hidden state."""
        return self.lstm.hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]`` at the step each video stopped (:meth:`infer`); training goes through :meth:`loss`."""
        self._check(x)
        return self.infer(x).logits

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The LSTM's hidden state ``[B, hidden]`` at the step each video stopped (:meth:`infer`, so without
        gradient): where the frames the policy chose end up, and what the classifier reads."""
        self._check(x)
        return self.infer(x).hidden

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Dropout and the classifier on hidden states ``[B, hidden]`` (``pre_logits``: the states as they are).
        ``forward_head(forward_features(x))`` is ``forward(x)``, up to the rounding of a batched product:
        inference computes each video's logits at its own stopping step."""
        return features if pre_logits else self.classifier(self.dropout(features))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` (fine-tuning on a new label set)."""
        self.classifier = nn.Linear(self.lstm.hidden_size, num_classes)

    def load_imagenet(self, weights) -> AdaFrame:
        """Start the backbone (and the memory's own network) from ImageNet classifiers in torchvision's
        layout, as the paper does: a path or state dict for every network when they share an architecture,
        else ``{"backbone": "resnet101.pth", "memory": "mobilenet_v2.pth"}``. Their classifiers are unused,
        everything else keeps its fresh initialisation; a snippet's stacked first convolution starts from
        the RGB kernel spread over its frames (:mod:`vidkit.models._adaframe_imagenet`). Returns ``self``."""
        self.load_state_dict(imagenet_state(self, weights))
        return self

    def loss(
        self, x: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One training episode: ``(logits of the last step [B, C], loss)``. The loss is the cross-entropy
        at every step, plus, for the adaptive policy, REINFORCE for the selection network (the utility as
        baseline) and the utility regressed onto the discounted return (§3.2)."""
        self._check(x)
        return self._train_episode(x, targets, label_smoothing)

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 5 or x.shape[1] != 3 or x.shape[2] % self.snippet:
            raise ValueError(
                f"AdaFrame takes candidate frames [B, 3, T, H, W] (T a multiple of its snippet of "
                f"{self.snippet}), got shape {tuple(x.shape)}"
            )

    def _candidates(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, 3, T·S, H, W]`` as ``[B, 3, T, S, H, W]``: T candidates of S frames (S = snippet)."""
        return rearrange(x, "b c (t s) h w -> b c t s h w", s=self.snippet)

    def _memory_frames(self, x: torch.Tensor) -> torch.Tensor:
        """The global memory's frames ``[B, 3, M, H, W]``: the middle frame of each of its candidates."""
        candidates = self._candidates(x)
        return candidates[:, :, self.memory_indices(candidates.shape[2]), self.snippet // 2]

    def _uniform_features(self, x: torch.Tensor) -> torch.Tensor | None:
        """The uniform baseline's frames are known up front: their features ``[B, K, embed]`` in one
        backbone pass (several times quicker than K passes over B frames); None for the adaptive policy."""
        if self.policy != "uniform":
            return None
        candidates = self._candidates(x)
        index = candidate_index(self.uniform_locations(x.device), candidates.shape[2])
        frames = rearrange(candidates[:, :, index], "b c k s h w -> (b k) (s c) h w")
        return rearrange(self.features(frames), "(b k) d -> b k d", b=x.shape[0])

    def _frames_at(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Each video's candidate ``index [B]``, as the backbone takes it: ``[B, 3·S, H, W]``."""
        candidates = self._candidates(x)
        return stack_snippet(candidates[torch.arange(x.shape[0], device=x.device), :, index])

    def _train_episode(self, x: torch.Tensor, targets: torch.Tensor, label_smoothing: float):
        b = x.shape[0]
        memory = self.memory(self._memory_frames(x))
        state = self.initial_state(b, x.device, x.dtype)
        location = self.first_location(b, x.device)
        known = self._uniform_features(x)
        num_candidates = x.shape[2] // self.snippet
        looked = torch.zeros(b, num_candidates, dtype=torch.bool, device=x.device)
        logits, utilities, means, samples = [], [], [], []
        for t in range(self.steps):
            if known is not None:
                step = self.step(None, location, state, memory, features=known[:, t])
            else:
                index, location = self.choose(location, num_candidates, looked)
                step = self.step(self._frames_at(x, index), location, state, memory)
            state = step.state
            logits.append(step.logits)
            utilities.append(step.utility)
            if t + 1 < self.steps:
                if self.policy == "adaptive":
                    mean = step.location.float()
                    sample = mean.detach() + self.std * torch.randn_like(mean)
                    means.append(mean)
                    samples.append(sample)
                    location = sample.clamp(0, 1)
                else:
                    location = self.next_location(step, t)
        logits = torch.stack(logits, dim=1)  # [B, K, C]
        utility = torch.stack(utilities, dim=1).float()
        loss = F.cross_entropy(
            rearrange(logits.float(), "b k c -> (b k) c"),
            targets.repeat_interleave(self.steps),
            label_smoothing=label_smoothing,
        )
        if self.policy == "adaptive":
            returns = future_returns(rewards(margins(logits.detach(), targets)), self.gamma)
            if means:
                advantage = (returns - utility.detach())[:, :-1]
                loss = loss + self.policy_weight * reinforce(
                    torch.stack(means, 1), torch.stack(samples, 1), advantage, self.std
                )
            loss = loss + self.utility_weight * F.mse_loss(utility, returns)
        return logits[:, -1], loss

    @torch.no_grad()
    def infer(self, x: torch.Tensor) -> Result:
        """Adaptive lookahead inference on candidate frames ``x [B, 3, T, H, W]``: each video stops on its
        own, and the backbone runs only on the frames still looked at."""
        if x.ndim != 5 or x.shape[2] % self.snippet:
            raise ValueError(
                f"AdaFrame takes candidate frames [B, 3, T, H, W] (T a multiple of its snippet of "
                f"{self.snippet}), got shape {tuple(x.shape)}"
            )
        episode = Episode(
            self,
            self.memory(self._memory_frames(x)),
            batch=x.shape[0],
            num_candidates=x.shape[2] // self.snippet,
            device=x.device,
            dtype=x.dtype,
        )
        known = self._uniform_features(x)
        if known is not None:
            for k in range(self.steps):
                episode.observe(None, features=known[:, k])
            return episode.result()
        while not episode.done:
            active = episode.active
            episode.observe(self._frames_at(x[active], episode.choose()))
        return episode.result()


register_converters(AdaFrame, {"torchvision": from_torchvision}, description="AdaFrame (ImageNet backbones)")


def warm_start(model: AdaFrame, state: dict[str, torch.Tensor]) -> list[str]:
    """Start ``model`` from another AdaFrame's weights (``state``, e.g. a uniform baseline's — the
    paper's backbone is fine-tuned on the target set before the policy is trained): every tensor whose
    name and shape match is copied, and an LSTM that gains or loses the memory's read-out or the time
    input keeps the inputs both have (:func:`lstm_inputs`), those it gains starting at zero so the start
    computes what the source did. Returns the names copied."""
    own = model.state_dict()
    ours, theirs = model.lstm_parts(), _state_lstm_inputs(state)
    if theirs is not None and theirs["frame"] != ours["frame"]:  # another embedding width: nothing to match
        theirs = None
    copied = []
    for name, value in state.items():
        target = own.get(name)
        if target is None:
            continue
        if name == "lstm.weight_ih" and theirs is not None and target.shape[0] == value.shape[0]:
            # by part: the same width may hold other parts (the frame and the time; the frame and the memory)
            target.zero_()
            for part in set(ours) & set(theirs):
                target[:, ours[part]] = value[:, theirs[part]]
        elif target.shape == value.shape:
            target.copy_(value)
        else:
            continue
        copied.append(name)
    return copied


@register_model(
    paper="Wu et al., CVPR 2019 (AdaFrame)",
    input_frames=25,
    input_size=224,
    task="adaptive",
    checkpoint_defaults={"time_input": True},  # vidkit's checkpoints from before it was an option had it
)
def adaframe(
    *,
    num_classes: int = 400,
    backbone: str = "resnet101",
    memory_arch: str = "mobilenet_v2",
    memory_frames: int = 16,
    memory_size: int = 112,
    hidden: int = 512,
    embed: int = 256,
    steps: int = 10,
    policy: str = "adaptive",
    start: float = 0.5,
    std: float = 0.1,
    gamma: float = 0.9,
    policy_weight: float = 1.0,
    utility_weight: float = 1.0,
    exit_margin: float = 0.0,
    exit_patience: int = 2,
    dropout: float = 0.5,
    snippet: int = 1,
    freeze_backbone: bool = False,
    locate: str = "hidden",
    revisit: bool = True,
    time_input: bool = False,
) -> AdaFrame:
    """AdaFrame over 25 candidate frames: a ResNet-101 per frame (``backbone``: any torchvision 2D
    network), MobileNetV2 global memory of 16 frames at 112², K = 10 steps; ``policy="uniform"`` is
    the baseline of ``steps`` uniformly spaced frames through the same LSTM. ``snippet`` > 1 makes
    each candidate that many frames stacked on channels (the data's segments then give as many);
    ``freeze_backbone`` trains everything but the backbone (start it from trained weights);
    ``memory_arch="backbone"`` reads the global memory through the (pretrained) main backbone instead of
    a light network of its own; ``locate="memory"`` centres each next look on the time the memory is
    read at, the selection network adding its correction; ``revisit=False`` sends each look to the nearest
    candidate not looked at yet; ``time_input=True`` gives the LSTM the frame's time beside the paper's
    ``[v_t, u_t]`` (see :class:`AdaFrame`)."""
    return AdaFrame(
        num_classes=num_classes,
        backbone=backbone,
        memory_arch=memory_arch,
        memory_frames=memory_frames,
        memory_size=memory_size,
        hidden=hidden,
        embed=embed,
        steps=steps,
        policy=policy,
        start=start,
        std=std,
        gamma=gamma,
        policy_weight=policy_weight,
        utility_weight=utility_weight,
        exit_margin=exit_margin,
        exit_patience=exit_patience,
        dropout=dropout,
        snippet=snippet,
        freeze_backbone=freeze_backbone,
        locate=locate,
        revisit=revisit,
        time_input=time_input,
    )
