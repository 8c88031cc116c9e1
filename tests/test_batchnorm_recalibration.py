"""BatchNorm statistics recomputed for a model's current weights (`recalibrate_bn`)."""

import torch
from torch import nn

from xmllib.models.modes import recalibrate_batchnorm


class TwoParts(nn.Module):
    """A stand-in for the joint model: a part whose BatchNorm is recalibrated, and one whose BatchNorm is not."""

    def __init__(self) -> None:
        super().__init__()
        self.recalibrated = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.kept = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.recalibrated(self.kept(x))


def test_the_statistics_become_the_average_over_the_batches_of_what_the_layer_sees():
    torch.manual_seed(0)
    model = TwoParts()
    model.kept.running_mean.fill_(0.3)
    model.kept.eval()
    batches = [torch.randn(5, 3, 8, 8) * 2 + 1 for _ in range(3)]
    with torch.no_grad():
        seen = [model.recalibrated[0](model.kept(x)) for x in batches]
    recalibrate_batchnorm(model, model.recalibrated, batches)
    layer = model.recalibrated[1]
    expected_mean = torch.stack([s.mean(dim=(0, 2, 3)) for s in seen]).mean(0)
    expected_var = torch.stack([s.transpose(0, 1).flatten(1).var(dim=1) for s in seen]).mean(0)
    assert torch.allclose(layer.running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(layer.running_var, expected_var, atol=1e-4)
    assert torch.equal(model.kept.running_mean, torch.full((3,), 0.3)), "the other part's statistics stay"
    assert layer.momentum == 0.1 and model.training and not model.kept.training


def test_a_part_without_batchnorm_is_left_alone():
    model = nn.Sequential(nn.Conv2d(3, 2, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recalibrate_batchnorm(model, model, [torch.randn(2, 3, 4, 4)])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
