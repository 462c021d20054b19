"""The evaluation meter: top-1/top-5 sums, the confusion matrix the epoch log carries, resumable state."""

import torch

from vidkit.engine.loop import Meter


def test_meter_counts_a_confusion_matrix_row_true_column_predicted():
    meter = Meter(num_classes=3)
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0], [0, 0, 5.0]])
    meter.add(logits, torch.tensor([0, 1, 1, 2]), loss=1.0)
    summary = meter.summary()
    assert summary["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert summary["top1"] == 0.75
    again = Meter.from_state(meter.state_dict())
    again.add(logits[:1], torch.tensor([2]), loss=1.0)
    assert again.summary()["confusion"][2] == [1, 0, 1]


def test_meter_without_classes_or_with_many_has_no_confusion():
    for meter in (Meter(), Meter(num_classes=400)):
        meter.add(torch.randn(2, 400), torch.tensor([1, 2]), loss=0.5)
        assert "confusion" not in meter.summary()
