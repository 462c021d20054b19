"""AVA frame mAP against values worked out by hand and against a slow loop-by-loop reference."""

import json
import math
import random

import numpy as np
import pytest
import torch

from vidkit.engine.frame_map import FrameMap, average_precision, box_iou, frame_map

K1, K2 = ("vid", 902), ("vid", 903)


def test_box_iou_by_hand():
    a = [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5]]
    b = [
        [0.0, 0.0, 1.0, 1.0],  # identical to a[0]
        [2.0, 2.0, 3.0, 3.0],  # disjoint from both
        [0.5, 0.0, 1.5, 1.0],  # a[0]: overlap 0.5 x 1 = 0.5, union 1 + 1 - 0.5 = 1.5 -> 1/3
        [0.5, 0.5, 0.5, 0.5],
    ]  # a point: zero area
    iou = box_iou(a, b)
    assert iou.shape == (2, 4) and iou.dtype == np.float64
    # a[1] (0.25 area) vs b[0]: inside it -> 0.25 / 1; vs b[2]: touches along x = 0.5 -> 0
    np.testing.assert_allclose(iou, [[1.0, 0.0, 1 / 3, 0.0], [0.25, 0.0, 0.0, 0.0]])
    # two zero-area boxes, even the same one: 0, not NaN
    assert box_iou([[0.5, 0.5, 0.5, 0.5]], [[0.5, 0.5, 0.5, 0.5]]).tolist() == [[0.0]]
    # tensors and single boxes are accepted; empty sets give empty matrices
    assert box_iou(torch.tensor([0.0, 0.0, 2.0, 1.0]), torch.tensor([[1.0, 0.0, 2.0, 1.0]])).tolist() == [[0.5]]
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 4)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        box_iou([[0.0, 0.0, 1.0]], b)


def test_average_precision_by_hand():
    # ranked TP pattern [1, 0, 1, 0] against 3 ground-truth boxes:
    #   precision = [1/1, 1/2, 2/3, 2/4] = [1, .5, .667, .5];  recall = [1/3, 1/3, 2/3, 2/3]
    #   non-increasing from the right: [1, .667, .667, .5]
    #   AP = (1/3 - 0) * 1 + (2/3 - 1/3) * 2/3 = 1/3 + 2/9 = 5/9 = 0.5556
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], 3) == pytest.approx(5 / 9)
    # the same detections shuffled: ranked by score inside
    assert average_precision([0.7, 0.6, 0.9, 0.8], [1, 0, 1, 0], 3) == pytest.approx(5 / 9)
    assert average_precision(np.array([0.3, 0.2]), np.array([True, True]), 2) == 1.0
    assert average_precision([], [], 4) == 0.0
    # tied scores keep input order: [0, 1] -> precision [0, 1/2], recall [0, 1] -> AP 1/2; [1, 0] -> 1
    assert average_precision([0.5, 0.5], [0, 1], 1) == pytest.approx(0.5)
    assert average_precision([0.5, 0.5], [1, 0], 1) == 1.0
    with pytest.raises(ValueError, match="at least one ground-truth"):
        average_precision([0.5], [0], 0)
    with pytest.raises(ValueError, match="labels"):
        average_precision([0.5, 0.4], [1], 1)


def _box(x1, y1, x2, y2):
    return [x1, y1, x2, y2]


def test_frame_map_by_hand():
    A, B, C = _box(0.1, 0.1, 0.5, 0.5), _box(0.5, 0.5, 0.9, 0.9), _box(0.0, 0.0, 0.4, 0.4)
    ground_truth = [(K1, A, 0), (K2, B, 0), (K1, C, 1)]  # class 2 has none
    detections = [
        (K2, _box(0.5, 0.5, 0.66, 0.9), 0, 0.7),  # inside B: IoU = 0.16*0.4 / (0.4*0.4) = 0.4 -> FP
        (K1, A, 0, 0.9),  # TP (A)
        (K2, B, 0, 0.6),  # TP (B)
        (K1, A, 0, 0.8),  # duplicate of A, already matched -> FP
        (K2, C, 1, 0.95),  # C's box on the wrong keyframe -> FP
        (K1, C, 1, 0.5),  # TP (C)
        (K1, A, 2, 0.3),  # class 2: no ground truth anywhere
    ]
    result = frame_map(detections, ground_truth, num_classes=3)
    # class 0 ranked: TP .9, FP .8, FP .7, TP .6 with 2 GT
    #   precision [1, 1/2, 1/3, 2/4], recall [.5, .5, .5, 1]; envelope [1, .5, .5, .5]
    #   AP = .5 * 1 + .5 * .5 = 0.75
    # class 1 ranked: FP .95, TP .5 with 1 GT: precision [0, 1/2], recall [0, 1] -> AP = 1 * .5 = 0.5
    # class 2: None, left out; mAP = (0.75 + 0.5) / 2 = 0.625
    assert result.ap[0] == pytest.approx(0.75)
    assert result.ap[1] == pytest.approx(0.5)
    assert result.ap[2] is None
    assert result.map == pytest.approx(0.625)
    assert result.num_ground_truth == (2, 1, 0)
    assert result.num_detections == (4, 2, 1)

    d = result.as_dict(["stand", "sit", "dance"])
    assert json.loads(json.dumps(d)) == d
    assert d["map"] == pytest.approx(0.625)
    assert d["per_class"][2] == {"class": "dance", "ap": None, "num_gt": 0, "num_det": 1}
    assert result.as_dict()["per_class"][1]["class"] == 1
    with pytest.raises(ValueError, match="class names"):
        result.as_dict(["stand"])


def test_already_matched_best_box_is_a_false_positive():
    A, B = _box(0.0, 0.0, 1.0, 1.0), _box(0.25, 0.0, 1.25, 1.0)
    ground_truth = [(K1, A, 0), (K1, B, 0)]
    second = _box(0.0625, 0.0, 1.0625, 1.0)
    # second vs A: .9375 / 1.0625 = .882; vs B: .8125 / 1.1875 = .684 -- best is A, but B also >= 0.5
    iou = box_iou([second], [A, B])[0]
    assert iou[0] > iou[1] >= 0.5
    detections = [(K1, A, 0, 0.9), (K1, second, 0, 0.8)]
    # VOC: TP then FP (A is taken; B is not considered) -> precision [1, 1/2], recall [1/2, 1/2] -> AP .5
    # (matching the best *unmatched* box instead would give two TPs and AP 1)
    assert frame_map(detections, ground_truth, num_classes=1).ap == (pytest.approx(0.5),)


def test_iou_threshold_is_inclusive():
    # half of the ground-truth box: IoU exactly 0.5 (binary fractions) -> TP
    result = frame_map([(K1, _box(0.0, 0.0, 0.5, 1.0), 0, 0.9)], [(K1, _box(0.0, 0.0, 1.0, 1.0), 0)], num_classes=1)
    assert result.map == 1.0
    strict = frame_map(
        [(K1, _box(0.0, 0.0, 0.5, 1.0), 0, 0.9)], [(K1, _box(0.0, 0.0, 1.0, 1.0), 0)], num_classes=1, iou_threshold=0.75
    )
    assert strict.map == 0.0


def test_perfect_and_inverted_rankings():
    boxes = [_box(0.1, 0.1, 0.3, 0.3), _box(0.6, 0.6, 0.9, 0.9)]
    ground_truth = [(K1, boxes[0], 0), (K2, boxes[1], 0), (K2, boxes[0], 1)]
    perfect = frame_map([(k, b, c, 0.5) for k, b, c in ground_truth], ground_truth, num_classes=2)
    assert perfect.map == 1.0 and perfect.ap == (1.0, 1.0)

    # class 0: two negatives (empty keyframe region, other keyframe) outrank both positives
    detections = [
        (K1, boxes[0], 0, torch.tensor(0.2)),  # TP
        (K2, boxes[0], 0, 0.8),  # FP: no class-0 box there
        (K2, boxes[1], 0, 0.1),  # TP
        (K1, boxes[1], 0, 0.9),  # FP
    ]
    # ranked FP, FP, TP, TP with 2 GT: precision [0, 0, 1/3, 2/4], recall [0, 0, .5, 1]
    #   envelope [.5, .5, .5, .5]; AP = .5 * .5 + .5 * .5 = 0.5 (without the envelope: 5/12)
    result = frame_map(detections, ground_truth, num_classes=2)
    assert result.ap[0] == pytest.approx(0.5)
    assert result.ap[1] == 0.0  # ground truth, no detections
    assert result.map == pytest.approx(0.25)


def test_no_ground_truth_and_no_detections():
    empty = frame_map([], [], num_classes=2)
    assert math.isnan(empty.map) and empty.ap == (None, None) and empty.as_dict()["map"] is None
    assert frame_map([], [(K1, _box(0, 0, 1, 1), 1)], num_classes=2).ap == (None, 0.0)
    with pytest.raises(ValueError, match="0-based"):
        frame_map([(K1, _box(0, 0, 1, 1), 2, 0.5)], [], num_classes=2)
    with pytest.raises(ValueError, match="key, box, class_index, score"):
        frame_map([(K1, _box(0, 0, 1, 1), 0)], [], num_classes=2)  # a ground-truth row passed as a detection


def _reference_frame_map(detections, ground_truth, num_classes, threshold=0.5):
    """Loop-by-loop VOC: per class, sorted() by score (stable), match in Python, AP as the sum over
    true positives of (1 / num_gt) * (best precision at this rank or below)."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0

    aps = []
    for c in range(num_classes):
        gts = [(k, b) for k, b, cls in ground_truth if cls == c]
        if not gts:
            aps.append(None)
            continue
        dets = sorted([d for d in detections if d[2] == c], key=lambda d: -d[3])
        used = [False] * len(gts)
        labels = []
        for key, box, _, _ in dets:
            best, best_iou = None, -1.0
            for j, (gk, gb) in enumerate(gts):
                if gk == key and iou(box, gb) > best_iou:
                    best, best_iou = j, iou(box, gb)
            tp = best is not None and best_iou >= threshold and not used[best]
            if tp:
                used[best] = True
            labels.append(tp)
        precision = [sum(labels[: i + 1]) / (i + 1) for i in range(len(labels))]
        aps.append(sum(max(precision[i:]) / len(gts) for i in range(len(labels)) if labels[i]))
    return aps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_slow_reference(seed):
    rng = random.Random(seed)
    keys = [("v0", 902), ("v0", 903), ("v1", 902), ("v2", 905)]
    num_classes = 4  # class 3 gets no ground truth

    def jitter(b, s):
        return [min(max(v + rng.uniform(-s, s), 0.0), 1.0) for v in b]

    ground_truth = []
    for k in keys:
        for _ in range(rng.randint(1, 4)):
            x, y = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
            ground_truth.append((k, [x, y, x + rng.uniform(0.1, 0.4), y + rng.uniform(0.1, 0.4)], rng.randrange(3)))
    detections = []
    for _ in range(200):
        if rng.random() < 0.6:  # near a ground-truth box (any class): TPs, duplicates, near misses
            k, b, c = rng.choice(ground_truth)
            b = jitter(b, 0.08)
            if rng.random() < 0.3:
                c = rng.randrange(num_classes)
            if rng.random() < 0.1:
                k = rng.choice(keys)
        else:
            k, c = rng.choice(keys), rng.randrange(num_classes)
            x, y = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
            b = [x, y, x + rng.uniform(0, 0.2), y + rng.uniform(0, 0.2)]
        detections.append((k, b, c, round(rng.random(), 1)))  # coarse scores: many ties

    expected = _reference_frame_map(detections, ground_truth, num_classes)
    result = frame_map(detections, ground_truth, num_classes=num_classes)
    assert isinstance(result, FrameMap)
    assert expected[3] is None and result.ap[3] is None
    assert result.ap == pytest.approx(expected, abs=1e-12)
    assert result.map == pytest.approx(np.mean([a for a in expected if a is not None]), abs=1e-12)
    # the case is not trivial: some classes are neither perfect nor hopeless
    assert any(0.0 < a < 1.0 for a in expected if a is not None)


def test_at_most_n_detections_a_keyframe_count():
    """The official evaluator reads the 50 best detections of each keyframe (over all classes). By hand, with a
    cap of 2: keyframe k1 has a true positive of class 0 at 0.4 behind two false positives of class 1 at 0.9 and
    0.8, so it is cut; class 0's AP falls from 1/2 (one of two boxes found, first in rank) to 0. Keyframe k2's
    single detection is under the cap and stays."""
    A, B = [0, 0, 1, 1], [2, 2, 3, 3]
    truth = [("k1", A, 0), ("k2", B, 0)]
    detections = [("k1", B, 1, 0.9), ("k1", B, 1, 0.8), ("k1", A, 0, 0.4), ("k2", A, 0, 0.3)]
    uncapped = frame_map(detections, truth, num_classes=2)
    capped = frame_map(detections, truth, num_classes=2, max_per_keyframe=2)
    assert uncapped.ap[0] == pytest.approx(0.5) and capped.ap[0] == pytest.approx(0.0)
    assert uncapped.num_detections == (2, 2) and capped.num_detections == (1, 2)
    assert frame_map(detections, truth, num_classes=2, max_per_keyframe=3).ap[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="max_per_keyframe must be at least 1"):
        frame_map(detections, truth, num_classes=2, max_per_keyframe=0)
