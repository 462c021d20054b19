"""The attention clusters head (vidkit/models/attention_clusters.py): where the shifting operation's α and β
start (PaddlePaddle's attention_cluster: N(0, σ²), σ = N^(-1/4)), and padded, masked batches."""

import torch

from vidkit.models.attention_clusters import AttentionClusters


def test_alpha_and_beta_start_as_paddlepaddles():
    torch.manual_seed(0)
    head = AttentionClusters(2, 3, num_units=4096)
    sigma = 4096**-0.25  # 0.125; 16 units: 0.5
    for p in (head.alpha.detach(), head.beta.detach()):
        assert p.shape == (4096,)
        assert abs(float(p.std()) - sigma) < 0.05 * sigma and abs(float(p.mean())) < 4 * sigma / 64  # 4 s.e.
    assert not torch.equal(head.alpha, head.beta)
    torch.manual_seed(1)
    small = AttentionClusters(2, 3, num_units=16)
    assert len(set(small.alpha.tolist())) == 16  # one draw per unit, not a constant


def test_alpha_learns_from_the_first_step():
    """From α=1, β=0 the normalisation cancels α and its gradient is exactly 0; from the random start it is not."""
    torch.manual_seed(0)
    head = AttentionClusters(8, 3, num_units=4, dropout=0.0)
    feats = torch.randn(5, 6, 8)
    head(feats).logsumexp(1).sum().backward()
    assert (head.alpha.grad.abs() > 0).all()

    with torch.no_grad():
        head.alpha.fill_(1.0)
        head.beta.zero_()
    head.zero_grad()
    head(feats).logsumexp(1).sum().backward()
    torch.testing.assert_close(head.alpha.grad, torch.zeros(4), atol=1e-6, rtol=0)


def test_a_padded_masked_batch_gives_each_video_what_it_gets_alone():
    torch.manual_seed(0)
    head = AttentionClusters(8, 3, num_units=4).eval()
    short, long = torch.randn(1, 3, 8), torch.randn(1, 7, 8)
    batch = torch.cat([torch.cat([short, torch.zeros(1, 4, 8)], 1), long])
    mask = torch.tensor([[True] * 3 + [False] * 4, [True] * 7])
    weights = head.attention(batch, mask)
    assert (weights[0, 3:] == 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 4))
    out = head(batch, mask=mask)
    torch.testing.assert_close(out, torch.cat([head(short), head(long)]))
