"""MoRF curves and AOPC, checked against Quantus' RegionPerturbation and a per-image, per-step loop."""

import numpy as np
import pytest
import quantus
import torch
from torch import nn

from xmllib.evaluation.aopc import aopc, morf_curve, random_order_heatmaps
from xmllib.evaluation.patches import default_patch_sizes, patch_order, pixel_ranks
from xmllib.evaluation.perturbations import perturbation_fill


class ToyExplainerClassifier(nn.Module):
    """A tiny joint model: forward(x) -> (logits, heatmap), the heatmap gating the classifier's features."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.explainer = nn.Conv2d(3, 1, 3, padding=1)
        self.features = nn.Conv2d(3, 8, 3, padding=1)
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heatmap = torch.sigmoid(self.explainer(x))
        features = torch.relu(self.features(x)) * heatmap
        return self.head(self.dropout(nn.functional.adaptive_avg_pool2d(features, 4).flatten(1))) * 30, heatmap


class LogitsOnly(nn.Module):
    """The logits of a (logits, heatmap) model, as Quantus expects."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


@pytest.fixture
def model() -> ToyExplainerClassifier:
    return ToyExplainerClassifier().eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def heatmaps() -> torch.Tensor:
    """Continuous random heatmaps: no two patches tie."""
    return torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(2))


def reference_curve(model: nn.Module, image: torch.Tensor, heatmap: torch.Tensor, patch_size: int,
                    fill: torch.Tensor, steps: int) -> list[float]:
    """One image's MoRF curve the plain way: rank patches with numpy, perturb and forward one step at a time."""
    p = patch_size
    columns = image.shape[-1] // p
    means = heatmap[0].numpy().reshape(-1, p, columns, p).mean(axis=(1, 3)).ravel()
    order = np.argsort(-means, kind="stable")
    x = image.clone()
    with torch.no_grad():
        probabilities = model(x[None])[0].softmax(dim=1)[0]
        target = int(probabilities.argmax())
        curve = [float(probabilities[target])]
        for patch in order[:steps]:
            row, column = divmod(int(patch), columns)
            window = (slice(None), slice(row * p, row * p + p), slice(column * p, column * p + p))
            x[window] = fill[window]
            curve.append(float(model(x[None])[0].softmax(dim=1)[0, target]))
    return curve


@pytest.mark.parametrize("perturbation, baseline", [("black", 0.0), ("gray", 0.5), ("white", 1.0)])
@pytest.mark.parametrize("patch_size, steps", [(4, 16), (2, 10)])
def test_morf_curve_matches_quantus_region_perturbation(model, images, heatmaps, perturbation, baseline,
                                                        patch_size, steps):
    curves = morf_curve(model, images, heatmaps, patch_size, perturbation, steps, batch_size=5)
    predicted = model(images)[0].argmax(dim=1).numpy()
    metric = quantus.RegionPerturbation(
        patch_size=patch_size, regions_evaluation=steps, normalise=False, abs=False,
        perturb_baseline=baseline, disable_warnings=True,
    )
    drops = metric(model=LogitsOnly(model).eval(), x_batch=images.numpy(), y_batch=predicted,
                   a_batch=heatmaps.numpy(), channel_first=True, softmax=True, device="cpu")
    np.testing.assert_allclose(curves[:, :1] - curves[:, 1:], np.array(drops), atol=1e-5)


@pytest.mark.parametrize("perturbation", ["uniform", "blur"])
def test_morf_curve_matches_a_per_image_per_step_loop(model, images, heatmaps, perturbation):
    curves = morf_curve(model, images, heatmaps, 4, perturbation, 12, batch_size=7, seed=5, blur_sigma=1.5)
    fill = perturbation_fill(images, perturbation, seed=5, blur_sigma=1.5)
    expected = [reference_curve(model, images[i], heatmaps[i], 4, fill[i], 12) for i in range(len(images))]
    np.testing.assert_allclose(curves.numpy(), np.array(expected), atol=1e-6)


def test_curve_does_not_depend_on_the_chunk_size_and_runs_in_eval_mode(images, heatmaps):
    model = ToyExplainerClassifier().train()
    curves = [morf_curve(model, images, heatmaps, 4, "black", 16, batch_size=b) for b in (1, 3, 64)]
    torch.testing.assert_close(curves[0], curves[1])
    torch.testing.assert_close(curves[0], curves[2])
    assert model.training


def test_curve_starts_at_the_predicted_class_probability_and_has_steps_plus_one_points(model, images, heatmaps):
    curves = morf_curve(model, images, heatmaps, 4, "gray")
    assert curves.shape == (4, 17)  # default steps: min(100, 16 patches)
    torch.testing.assert_close(curves[:, 0], model(images)[0].softmax(dim=1).amax(dim=1))


def test_aopc_by_hand():
    curves = torch.tensor([[0.9, 0.5, 0.2], [0.6, 0.6, 0.3]])
    # drops: image 1: 0, 0.4, 0.7; image 2: 0, 0, 0.3; mean: 0, 0.2, 0.5
    torch.testing.assert_close(aopc(curves), torch.tensor([0.0, 0.2 / 2, 0.7 / 3]))


def test_aopc_refuses_an_empty_curve():
    with pytest.raises(ValueError, match="N x \\(steps \\+ 1\\)"):
        aopc(torch.empty(0, 3))


def test_ties_keep_row_major_order():
    heatmap = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2],
                            [0.2, 0.2, 0.5, 0.5], [0.2, 0.2, 0.5, 0.5]])[None, None]
    assert patch_order(heatmap, 2).tolist() == [[0, 3, 1, 2]]
    assert patch_order(torch.zeros(1, 1, 4, 4), 1).tolist() == [list(range(16))]
    assert pixel_ranks(heatmap, 2)[0, 0].tolist() == [[0, 0, 2, 2], [0, 0, 2, 2], [3, 3, 1, 1], [3, 3, 1, 1]]


def test_patch_order_is_numpys_float64_stable_order_on_near_ties():
    generator = torch.Generator().manual_seed(0)
    heatmaps = torch.randint(0, 8, (20, 1, 16, 16), generator=generator).float() / 7  # sums that round in float32
    means = heatmaps.double().numpy().reshape(20, 8, 2, 8, 2).mean(axis=(2, 4)).reshape(20, -1)
    expected = np.argsort(-means, axis=1, kind="stable")
    assert np.array_equal(patch_order(heatmaps, 2).numpy(), expected)


def test_random_order_is_seeded_and_uniform_over_patches():
    images = torch.zeros(4000, 3, 4, 4)
    heatmaps = random_order_heatmaps(images, seed=0)
    torch.testing.assert_close(heatmaps, random_order_heatmaps(images, seed=0))
    assert not torch.equal(heatmaps, random_order_heatmaps(images, seed=1))
    first = patch_order(heatmaps, 2)[:, 0]
    counts = torch.bincount(first, minlength=4)
    assert counts.min() > 900 and counts.max() < 1100  # 1000 expected each; fixed seed, so deterministic


def test_default_patch_sizes_keep_the_papers_number_of_patches():
    assert default_patch_sizes(224, 224) == (4, 8, 16, 32)
    assert default_patch_sizes(64, 64) == (1, 2, 4, 8)
    assert default_patch_sizes(32, 32) == (1, 2, 4)


def test_mismatched_heatmaps_are_refused(model, images):
    with pytest.raises(ValueError, match=r"heatmaps must have shape \(4, 1, 16, 16\)"):
        morf_curve(model, images, torch.rand(4, 1, 8, 8), 4, "black")
    with pytest.raises(ValueError, match="heatmaps must have shape"):
        morf_curve(model, images, torch.rand(3, 1, 16, 16), 4, "black")


def test_patch_size_must_tile_the_image(model, images, heatmaps):
    with pytest.raises(ValueError, match=r"patch size 3 does not tile 16 x 16 images.*\[1, 2, 4, 8, 16\]"):
        morf_curve(model, images, heatmaps, 3, "black")


def test_unknown_perturbation_is_refused(model, images, heatmaps):
    with pytest.raises(ValueError, match="unknown perturbation 'noise'"):
        morf_curve(model, images, heatmaps, 4, "noise")


def test_too_many_steps_are_clipped_with_a_warning(model, images, heatmaps):
    with pytest.warns(UserWarning, match="steps=50 is more than the 16 patches"):
        curves = morf_curve(model, images, heatmaps, 4, "black", 50)
    assert curves.shape == (4, 17)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        morf_curve(model, images, heatmaps, 4, "black", 0)


def test_a_model_without_logits_is_refused(images, heatmaps):
    class Heatmapper(nn.Module):
        def forward(self, x):
            return {"heatmap": x.mean(dim=1, keepdim=True)}

    with pytest.raises(ValueError, match="returns \\(logits, heatmap\\) or logits.*a dict"):
        morf_curve(Heatmapper(), images, heatmaps, 4, "black")
