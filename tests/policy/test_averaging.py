"""The Polyak average of an adapter's trainable weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dojo.policy.averaging import WeightAverage


def model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    net[0].requires_grad_(False)  # a frozen base layer is not averaged
    return net


def test_the_average_folds_in_each_update_at_its_decay() -> None:
    net = model()
    average = WeightAverage(net, decay=0.75)
    assert set(average.state_dict()) == {"1.weight", "1.bias"}
    start = net[1].weight.detach().clone()
    with torch.no_grad():
        net[1].weight.add_(1.0)
    average.update()
    expected = 0.75 * start + 0.25 * (start + 1.0)
    assert torch.allclose(average.state_dict()["1.weight"], expected)


def test_swapping_the_average_in_restores_the_newest_weights_bit_for_bit() -> None:
    net = model()
    average = WeightAverage(net, decay=0.5)
    with torch.no_grad():
        net[1].weight.mul_(3.0)
    average.update()
    newest = net[1].weight.detach().clone()
    with average.swapped_in():
        assert torch.equal(net[1].weight, average.state_dict()["1.weight"])
    assert torch.equal(net[1].weight, newest)
    with pytest.raises(RuntimeError), average.swapped_in():
        raise RuntimeError("a save that failed half way")
    assert torch.equal(net[1].weight, newest)


def test_a_saved_average_must_fit_the_model_and_the_decay_must_average() -> None:
    net = model()
    saved = WeightAverage(net, decay=0.9).state_dict()
    restored = WeightAverage(net, decay=0.9, state=saved)
    assert all(torch.equal(restored.state_dict()[k], saved[k]) for k in saved)
    with pytest.raises(ValueError, match="does not fit"):
        WeightAverage(net, decay=0.9, state={"1.weight": saved["1.weight"]})
    for decay in (0.0, 1.0):
        with pytest.raises(ValueError, match="between 0 and 1"):
            WeightAverage(net, decay=decay)
