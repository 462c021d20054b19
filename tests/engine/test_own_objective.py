"""Models with an objective of their own (CoViAR, AdaFrame) train through ``OwnObjective``: its forward
is the model's ``loss`` given targets and the model's forward without, DistributedDataParallel can
wrap it, and checkpoints hold the model's own keys."""

import torch
import torch.distributed as dist

from vidkit.engine.checkpoint import load_checkpoint, save_checkpoint, unwrap
from vidkit.engine.loop import OwnObjective, compile_model, has_own_objective, wrap_for_training
from vidkit.models import build


def _coviar():
    torch.manual_seed(0)
    return build("coviar", num_classes=4, streams=["mv"], dropout=0.0)


def _clips():
    return torch.randn(2, 8, 2, 32, 32), torch.tensor([1, 3])


def test_only_models_with_a_loss_are_wrapped_and_only_once():
    model = _coviar()
    wrapped = wrap_for_training(model)
    assert isinstance(wrapped, OwnObjective) and unwrap(wrapped) is model and has_own_objective(wrapped)
    assert wrap_for_training(wrapped) is wrapped
    compiled = compile_model(wrapped, backend="eager")
    assert wrap_for_training(compiled) is compiled and unwrap(compiled) is model
    plain = build("r3d_18", num_classes=4)
    assert not has_own_objective(plain) and wrap_for_training(plain) is plain


def test_forward_is_the_loss_given_targets_and_the_logits_without():
    model = _coviar().train()
    wrapped = wrap_for_training(model)
    x, y = _clips()
    logits, loss = wrapped(x, targets=y, label_smoothing=0.1)
    expected_logits, expected_loss = model.loss(x, y, label_smoothing=0.1)
    assert torch.equal(logits, expected_logits) and torch.equal(loss, expected_loss)
    assert torch.equal(wrapped.eval()(x), model(x))


def test_checkpoints_keep_the_models_own_keys(tmp_path):
    model = _coviar()
    save_checkpoint(tmp_path / "last.pt", wrap_for_training(model), model_name="coviar")
    assert list(load_checkpoint(tmp_path / "last.pt")["model"]) == list(model.state_dict())


def test_distributed_data_parallel_trains_through_the_wrapper(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = _coviar().train()
        ddp = torch.nn.parallel.DistributedDataParallel(wrap_for_training(model))
        assert has_own_objective(ddp) and unwrap(ddp) is model
        x, y = _clips()
        logits, loss = ddp(x, targets=y)
        assert logits.shape == (2, 4)
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
    finally:
        dist.destroy_process_group()
