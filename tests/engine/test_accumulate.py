"""Gradient accumulation (optim.accumulate_steps): k batches accumulated into one optimiser step move
the weights as one k-times larger batch does, on a model without BatchNorm (whose batch statistics
would differ between the two); and class-weighted losses weight each clip by its class."""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidkit.engine.loop import Meter, Precision, train_step


class _NoBN(nn.Module):
    def __init__(self, classes: int = 3):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, classes)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).mean(dim=(2, 3, 4)))


def _transform(frames, *, train, generator, return_flips):
    x = frames.permute(0, 4, 1, 2, 3).float() / 255  # [B, T, H, W, 3] uint8 -> [B, 3, T, H, W]
    return x, torch.zeros(x.shape[0], dtype=torch.bool)


def _batch(frames, labels):
    return {"frames": frames, "label": labels, "errors": []}


def _step(model, optimizer, batch, accumulate=(0, 1), **extra):
    return train_step(
        model,
        batch,
        optimizer,
        transform=_transform,
        device=torch.device("cpu"),
        precision=Precision(),
        scaler=None,
        label_smoothing=0.1,
        clip_grad_norm=50.0,  # clips the summed gradient, not each batch's (not reached here)
        generator=torch.Generator(),
        meter=Meter(),
        accumulate=accumulate,
        **extra,
    )


def _data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (n, 4, 8, 8, 3), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    return frames, labels


def test_k_accumulated_batches_equal_one_k_times_larger_batch():
    torch.manual_seed(0)
    big = _NoBN()
    small = copy.deepcopy(big)
    opt_big = torch.optim.SGD(big.parameters(), lr=0.5, momentum=0.9)
    opt_small = torch.optim.SGD(small.parameters(), lr=0.5, momentum=0.9)
    for step in range(3):  # several steps: momentum and the gradients' reset between windows matter
        frames, labels = _data(8, seed=step)
        _step(big, opt_big, _batch(frames, labels))
        for i in range(4):
            part = slice(2 * i, 2 * i + 2)
            _step(small, opt_small, _batch(frames[part], labels[part]), accumulate=(i, 4))
    for (name, a), b in zip(big.named_parameters(), small.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)  # float sums in another order


def test_no_step_before_the_window_is_complete():
    torch.manual_seed(0)
    model = _NoBN()
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    frames, labels = _data(4)
    _step(model, optimizer, _batch(frames, labels), accumulate=(0, 2))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    _step(model, optimizer, _batch(frames, labels), accumulate=(1, 2))
    assert not torch.equal(before["fc.weight"], model.fc.weight)


def test_class_weights_weight_the_loss_by_class():
    torch.manual_seed(0)
    model = _NoBN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    frames, labels = _data(8)
    plain = _step(model, optimizer, _batch(frames, labels))
    weights = torch.tensor([4.0, 1.0, 0.25])
    weighted = _step(model, optimizer, _batch(frames, labels), class_weights=weights)
    with torch.no_grad():
        logits = model(_transform(frames, train=True, generator=None, return_flips=True)[0])
        expected = F.cross_entropy(logits, labels, weight=weights, label_smoothing=0.1)
    assert weighted != plain
    assert abs(weighted - float(expected)) < 1e-5
