"""AdaFrame's parts against hand-computed values: the reward, the returns, the policy's log-probability
and gradient, the memory attention, the exit rule, and the training and inference episodes."""

import math

import pytest
import torch

from vidkit.models import build, model_card
from vidkit.models.adaframe import candidate_index, lstm_inputs, time_encoding, trunk, warm_start
from vidkit.models.adaframe_policy import exit_steps, future_returns, log_prob, margins, reinforce, rewards

SMALL = dict(backbone="resnet18", memory_arch="mobilenet_v2", memory_size=32, hidden=32, embed=16, steps=5)


def small(**overrides):
    torch.manual_seed(0)
    return build("adaframe", num_classes=4, **{**SMALL, **overrides})


def test_margin_is_the_true_class_probability_minus_the_best_other():
    p = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]])  # one video, two steps
    m = margins(p.log(), torch.tensor([0]))
    assert m[0].tolist() == pytest.approx([0.5 - 0.3, 0.1 - 0.6])


def test_reward_is_the_gain_over_the_best_margin_so_far():
    m = torch.tensor([[0.2, 0.1, 0.5, 0.4, 0.9], [-0.5, -0.2, 0.1, 0.05, 0.3]])
    # best before each step: 0 (a uniform guess), then the running maximum
    r = rewards(m)
    assert r[0].tolist() == pytest.approx([0.2, 0.0, 0.3, 0.0, 0.4])
    assert r[1].tolist() == pytest.approx([0.0, 0.0, 0.1, 0.0, 0.2])


def test_returns_discount_the_rewards_still_to_come():
    r = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    g = future_returns(r, gamma=0.5)
    assert g[0].tolist() == pytest.approx([2 + 0.5 * 3 + 0.25 * 4, 3 + 0.5 * 4, 4.0, 0.0])


def test_policy_log_probability_and_gradient_match_the_gaussian():
    mean = torch.tensor([[0.3, 0.7]], requires_grad=True)
    sample = torch.tensor([[0.45, 0.6]])
    std = 0.1
    expected = torch.distributions.Normal(mean.detach(), std).log_prob(sample)
    assert torch.allclose(log_prob(mean.detach(), sample, std), expected)
    advantage = torch.tensor([[2.0, -1.0]])
    reinforce(mean, sample, advantage, std).backward()
    # d/dmean of −A·log N(s; mean, std), averaged over the 2 entries: −A (s − mean) / std² / 2
    want = -advantage * (sample - mean.detach()) / std**2 / 2
    assert torch.allclose(mean.grad, want)
    assert (
        mean.grad[0, 0] < 0 and mean.grad[0, 1] < 0
    )  # a descent step moves 0.3 up toward 0.45 (better), 0.7 up away from 0.6 (worse)


def test_memory_attention_is_a_softmax_of_scaled_dot_products_keyed_on_the_hidden_state():
    model = small()
    b, m, d = 2, 16, model.embed
    memory = torch.randn(b, m, d)
    h = torch.randn(b, model.lstm.hidden_size)
    read, weights = model.read(memory, h)
    q = model.query(h)
    want = torch.softmax((memory @ q[:, :, None]).squeeze(-1) / math.sqrt(d), dim=-1)
    assert torch.allclose(weights, want, atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(b))
    assert torch.allclose(read, (want[:, :, None] * memory).sum(1), atol=1e-6)
    # a memory slot aligned with the query takes the attention
    memory[0, 5] = q[0] * 50
    _, weights = model.read(memory, h)
    assert weights[0].argmax() == 5 and weights[0, 5] > 0.99


def test_locate_memory_starts_the_next_look_where_the_memory_is_read():
    model = small(locate="memory").eval()
    torch.nn.init.zeros_(model.selector.weight)
    torch.nn.init.zeros_(model.selector.bias)  # no correction from the hidden state: the attended time itself
    memory = torch.randn(1, 16, model.embed)
    frame = torch.randn(1, 3, 32, 32)
    state = model.initial_state(1, torch.device("cpu"))
    step = model.step(frame, torch.tensor([0.5]), state, memory)
    _, weights = model.read(memory, step.state[0])  # keyed on the new hidden state
    assert step.location.item() == pytest.approx((weights[0] * torch.linspace(0, 1, 16)).sum().item(), abs=1e-5)
    h = step.state[0]
    q = model.query(h)[0]
    memory[0, 12] = q / q.norm() ** 2 * 100 * math.sqrt(model.embed)  # a slot that takes the attention (score 100)
    # pulls the look to its time, 12/15
    assert model.attended_time(memory, h).item() == pytest.approx(12 / 15, abs=1e-3)
    with pytest.raises(ValueError, match="locate"):
        small(locate="elsewhere")


def test_memory_sees_uniformly_spaced_frames_with_their_times():
    model = small()
    assert model.memory_indices(25) == [round(i * 24 / 15) for i in range(16)]
    assert model.memory_indices(25)[0] == 0 and model.memory_indices(25)[-1] == 24
    model.eval()
    same = torch.rand(1, 3, 1, 64, 64).expand(1, 3, 16, 64, 64)
    memory = model.memory(same)  # the same picture at every slot: the slots differ by their time encoding only
    assert memory.shape == (1, 16, model.embed)
    diff = memory[0] - memory[0, :1]
    tau = torch.linspace(0, 1, 16)
    assert torch.allclose(diff, time_encoding(tau, model.embed) - time_encoding(tau[:1], model.embed), atol=1e-5)


def test_exit_rule_stops_after_patience_steps_without_a_new_high():
    u = torch.tensor(
        [
            [0.5, 0.6, 0.55, 0.58, 0.9, 1.0],  # stalls at steps 2 and 3: stops after 4 frames
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # always rising: the whole budget
            [0.9, 0.1, 0.1, 0.1, 0.1, 0.1],
        ]
    )  # stalls at once: stops after 3 frames
    assert exit_steps(u, margin=0.0, patience=2).tolist() == [4, 6, 3]
    # a margin turns small rises into stalls
    assert exit_steps(u, margin=0.15, patience=2).tolist() == [3, 3, 3]
    assert exit_steps(u, margin=0.0, patience=1).tolist() == [3, 6, 2]


def test_inference_stops_where_the_exit_rule_says_and_keeps_that_steps_logits():
    x = torch.randn(3, 3, 25, 64, 64)
    never = small(exit_patience=99).eval()
    full = never.infer(x)
    assert full.frames.tolist() == [5, 5, 5] and not full.utilities.isnan().any()
    for patience in (1, 2):
        model = small(exit_patience=patience).eval()
        model.load_state_dict(never.state_dict())
        got = model.infer(x)
        want = exit_steps(full.utilities, margin=0.0, patience=patience)
        assert got.frames.tolist() == want.tolist()
        for i, n in enumerate(want.tolist()):
            assert torch.equal(got.locations[i, :n], full.locations[i, :n])  # same path until it stops
            assert got.locations[i, n:].isnan().all()
    assert torch.allclose(model(x), got.logits)  # forward() in eval mode is inference


def test_without_revisits_a_look_goes_to_the_nearest_candidate_not_seen_yet():
    location = torch.tensor([0.5, 0.5, 0.52, 1.0])  # of 5 candidates: positions 2, 2, 2.08, 4
    looked = torch.tensor([[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert candidate_index(location, 5).tolist() == [2, 2, 2, 4]
    # 1 and 3 equally near: the lower; 1 nearer than 4; all seen: the nearest
    assert candidate_index(location, 5, looked).tolist() == [2, 3, 1, 4]


@pytest.mark.parametrize("revisit", [True, False])
def test_revisits_are_the_papers_rule_and_can_be_turned_off(revisit):
    model = small(steps=8, exit_patience=99, std=1e-4, revisit=revisit)
    with torch.no_grad():  # a selection network that always sends the next look to sigmoid(0.3) = 0.574
        model.selector.weight.zero_()
        model.selector.bias.fill_(0.3)
    x = torch.randn(2, 3, 25, 64, 64)
    # of 25 candidates, 0.574 is position 13.8: the first look is at the start (0.5, candidate 12), then
    # candidate 14 every time; or, without revisits, spreading out from 13.8 by distance
    expected = [12, 14, 13, 15, 16, 11, 17, 10] if not revisit else [12] + [14] * 7
    seen = model.eval().infer(x)
    assert (seen.locations * 24).round().long().tolist() == [expected, expected]
    if not revisit:  # each step is given the time of the candidate it looks at
        assert torch.allclose(seen.locations * 24, torch.tensor(expected).float().expand(2, 8))
    # the training episode looks the same way (its Gaussian exploration made negligible here)
    index, frames_at = [], model._frames_at
    model._frames_at = lambda x, i: index.append(i.clone()) or frames_at(x, i)
    model.train().loss(x, torch.tensor([0, 1]))
    assert torch.stack(index, 1).tolist() == [expected, expected]


def test_training_episode_trains_every_head():
    model = small().train()
    x, y = torch.randn(4, 3, 25, 64, 64), torch.tensor([0, 1, 2, 3])
    logits, loss = model.loss(x, y)
    assert logits.shape == (4, 4) and loss.ndim == 0
    loss.backward()
    for name in ("selector", "utility", "classifier", "query", "memory_proj", "frame_proj"):
        assert getattr(model, name).weight.grad.abs().sum() > 0, name


@pytest.mark.parametrize("policy", ["adaptive", "uniform"])
def test_a_frozen_backbone_stays_as_loaded_while_the_rest_learns(policy):
    model = small(policy=policy, freeze_backbone=True).train()
    assert not model.backbone.training and model.lstm.training  # batch-norm statistics fixed, dropout on
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    _, loss = model.loss(torch.randn(4, 3, 25, 64, 64), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.frame_proj.weight.grad.abs().sum() > 0 and model.lstm.weight_ih.grad.abs().sum() > 0
    optimizer.step()
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and running statistics alike


def test_a_backbone_memory_reads_the_main_backbones_features_of_still_frames():
    model = small(memory_arch="backbone", snippet=3, freeze_backbone=True).eval()
    assert model.memory_net is None and not any("memory_net" in k for k in model.state_dict())
    frames = torch.randn(2, 3, 16, 32, 32)
    still = frames.permute(0, 2, 1, 3, 4).reshape(32, 3, 32, 32).repeat(1, 3, 1, 1)  # each frame as a 3-frame snippet
    expected = model.memory_proj(model.backbone(still)).reshape(2, 16, -1)
    tau = torch.linspace(0, 1, 16)
    assert torch.allclose(model.memory(frames), expected + time_encoding(tau, model.embed), atol=1e-5)
    model.train()
    _, loss = model.loss(torch.randn(2, 3, 75, 32, 32), torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())  # frozen for the memory too
    assert model.memory_proj.weight.grad.abs().sum() > 0


def test_uniform_baseline_looks_at_fixed_uniform_frames_through_the_same_lstm():
    model = small(policy="uniform", steps=4).eval()
    assert not hasattr(model, "memory_net") and model.memory_frames == 0
    seen = model.infer(torch.randn(2, 3, 25, 64, 64))
    assert seen.frames.tolist() == [4, 4]
    assert torch.allclose(seen.locations, torch.tensor([0, 1 / 3, 2 / 3, 1]).expand(2, 4))
    model.train()
    _, loss = model.loss(torch.randn(2, 3, 25, 64, 64), torch.tensor([0, 1]))
    loss.backward()
    assert model.selector.weight.grad is None  # nothing selects: no policy loss


def test_card_and_arguments():
    card = model_card("adaframe")
    assert card.task == "adaptive" and card.input_frames == 25
    with pytest.raises(ValueError, match="policy"):
        small(policy="random")
    with pytest.raises(ValueError, match="unknown 2D backbone"):
        trunk("resnet_999")
    net, width = trunk("mobilenet_v3_small")  # a classifier block: features before its last linear layer
    assert net.eval()(torch.randn(1, 3, 32, 32)).shape == (1, width)
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        small()(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize("time_input", [False, True])
def test_warm_start_from_the_uniform_baseline_computes_what_it_did(time_input):
    """AdaFrame started from a uniform run's weights: the memory's read-out enters the LSTM with zero
    weights, so every step computes what the uniform model computes on the same frames."""
    uniform = small(policy="uniform", steps=5, time_input=time_input).eval()
    adaptive = small(time_input=time_input)
    copied = warm_start(adaptive, uniform.state_dict())
    assert "lstm.weight_ih" in copied and "backbone.conv1.weight" in copied and "classifier.weight" in copied
    adaptive.eval()
    x = torch.randn(2, 3, 25, 64, 64)
    location = torch.tensor([0.25, 0.75])
    state = adaptive.initial_state(2, x.device)
    frame = x[:, :, 6]
    a = adaptive.step(frame, location, state, adaptive.memory(x[:, :, adaptive.memory_indices(25)]))
    b = uniform.step(frame, location, uniform.initial_state(2, x.device), None)
    assert torch.allclose(a.logits, b.logits, atol=1e-5)


def test_its_gflops_can_be_counted():
    # `vidkit models adaframe` crashed: under the JIT tracer a clip's frame count is a tensor
    from vidkit.models import gflops

    assert gflops(small().eval(), (1, 3, 8, 32, 32)) > 0


# -- the LSTM's input: the paper's [v_t, u_t], the time of the frame only as vidkit's option ------------


@pytest.mark.parametrize(("policy", "parts"), [("adaptive", ["frame", "memory"]), ("uniform", ["frame"])])
def test_the_lstm_takes_the_papers_inputs_and_the_frames_time_only_as_an_option(policy, parts):
    e = SMALL["embed"]
    paper = small(policy=policy)
    assert paper.time_input is False  # the paper's recipe by default
    assert list(paper.lstm_parts()) == parts and paper.lstm.input_size == len(parts) * e
    timed = small(policy=policy, time_input=True)
    assert list(timed.lstm_parts()) == [*parts, "time"] and timed.lstm.input_size == (len(parts) + 1) * e
    assert timed.lstm_parts()["time"] == slice(len(parts) * e, (len(parts) + 1) * e)
    assert lstm_inputs(e, memory=True, time_input=True) == {
        "frame": slice(0, e),
        "memory": slice(e, 2 * e),
        "time": slice(2 * e, 3 * e),
    }
    # the parameters differ by the time's columns of the LSTM's input weights only
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(timed) - count(paper) == 4 * SMALL["hidden"] * e


def test_without_the_time_input_a_step_does_not_see_where_its_frame_is():
    """The paper's step reads the frame and the memory; the location the frame came from enters only with
    the time input (the memory's own frames carry their times either way)."""
    frame, memory = torch.randn(2, 3, 32, 32), torch.randn(2, 16, SMALL["embed"])
    for time_input in (False, True):
        model = small(time_input=time_input).eval()
        state = model.initial_state(2, torch.device("cpu"))
        early = model.step(frame, torch.tensor([0.1, 0.2]), state, memory)
        late = model.step(frame, torch.tensor([0.8, 0.9]), state, memory)
        assert torch.equal(early.logits, late.logits) is not time_input


def _old_file(tmp_path, model, *, record):
    """A vidkit training checkpoint of ``model`` as written before the time input was an option: with
    ``model_options`` empty (since checkpoints recorded options) or without them (before), and a config
    whose model options do not name it."""
    saved = {
        "model": model.state_dict(),
        "model_name": "adaframe",
        "num_classes": 4,
        "classes": ["a", "b", "c", "d"],
        "config": {"model": {"name": "adaframe", "options": dict(SMALL)}},
    }
    if record:
        saved["model_options"] = {}
    path = tmp_path / "old.pt"
    torch.save(saved, path)
    return path


@pytest.mark.parametrize("record", [True, False], ids=["empty-model-options", "no-model-options"])
def test_an_old_checkpoint_loads_with_the_time_input_and_computes_what_it_did(tmp_path, record):
    from vidkit.engine.inference import load_model
    from vidkit.models import build_finetune

    assert model_card("adaframe").checkpoint_defaults == {"time_input": True}
    old = small(time_input=True).eval()  # what every AdaFrame was before the option
    path = _old_file(tmp_path, old, record=record)
    loaded = load_model(path).model.eval()
    assert loaded.time_input is True and loaded.checkpoint_options() == {"time_input": True}
    x = torch.randn(2, 3, 25, 32, 32)
    torch.testing.assert_close(loaded(x), old(x))
    # fine-tuning from it (load_weights, which checks every shape before loading): built with the card's
    # default for an option the file does not record
    start = build_finetune("adaframe", num_classes=4, weights=str(path), **SMALL)
    assert start.model.time_input is True
    torch.testing.assert_close(start.model.eval()(x), old(x))


def test_a_new_checkpoint_records_the_time_input_and_loads_as_trained(tmp_path):
    from vidkit.engine.checkpoint import load_checkpoint, save_checkpoint
    from vidkit.engine.inference import load_model

    config = {"model": {"name": "adaframe", "options": dict(SMALL)}}
    x = torch.randn(2, 3, 25, 32, 32)
    for time_input in (False, True):
        trained = small(time_input=time_input).eval()
        path = save_checkpoint(
            tmp_path / f"{time_input}.pt",
            trained,
            model_name="adaframe",
            num_classes=4,
            classes=list("abcd"),
            config=config,
        )
        assert load_checkpoint(path)["model_options"] == {"time_input": time_input}
        loaded = load_model(path).model.eval()
        assert loaded.time_input is time_input
        torch.testing.assert_close(loaded(x), trained(x))


def test_the_paper_run_starts_from_a_pretraining_with_the_time_input():
    """tools/adaframe_table.py's run as in the paper warm-starts from the shared (timed) pretraining:
    it keeps the frame's columns of the LSTM input and drops the time's."""
    pretrained = small(policy="uniform", time_input=True)
    paper = small()
    assert "lstm.weight_ih" in warm_start(paper, pretrained.state_dict())
    e = SMALL["embed"]
    assert torch.equal(paper.lstm.weight_ih[:, :e], pretrained.lstm.weight_ih[:, :e])
    assert not paper.lstm.weight_ih[:, e:].any()  # the memory's read-out starts at zero
