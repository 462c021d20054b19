"""tools/linear_probe.py: the probe itself (the extraction it runs is vidkit extract's, tested there)."""

import torch


def test_the_probe_separates_what_is_separable_and_no_more(load_tool):
    tool = load_tool("linear_probe")
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=g) * 4
    y = torch.arange(200) % 4
    x = centres[y] + torch.randn(200, 16, generator=g)
    predict = tool.fit_probe(x[:160], y[:160], 4)
    assert float((predict(x[160:]) == y[160:]).float().mean()) == 1.0
    noise = torch.randn(200, 16, generator=g)  # labels the features know nothing of: near chance held out
    predict = tool.fit_probe(noise[:160], y[:160], 4)
    assert float((predict(noise[160:]) == y[160:]).float().mean()) < 0.5
