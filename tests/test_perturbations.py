"""Perturbation fills: which pixels change, and to what."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from xmllib.evaluation.patches import pixel_ranks
from xmllib.evaluation.perturbations import (
    PERTURBATIONS,
    default_blur_sigma,
    gaussian_blurred,
    perturb_most_relevant,
    perturbation_fill,
)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def _ranks(n: int) -> torch.Tensor:
    """Pixel ranks of n 8 x 8 images whose 4 x 4 patches have relevance 0.9, 0.1 / 0.5, 0.7."""
    means = torch.tensor([[0.9, 0.1], [0.5, 0.7]])
    heatmap = means.repeat_interleave(4, 0).repeat_interleave(4, 1).expand(n, 1, 8, 8)
    return pixel_ranks(heatmap, 4)


def _region(*patches: tuple[int, int]) -> torch.Tensor:
    """1 x 1 x 8 x 8 mask of the given 4 x 4 patches (row, column)."""
    region = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    for row, column in patches:
        region[..., 4 * row : 4 * row + 4, 4 * column : 4 * column + 4] = True
    return region


@pytest.mark.parametrize("name, value", [("black", 0.0), ("gray", 0.5), ("white", 1.0)])
def test_constant_perturbations_set_exactly_the_top_patches_to_their_value(images, name, value):
    out = perturb_most_relevant(images, perturbation_fill(images, name), _ranks(2), torch.tensor([2, 2]))
    changed = _region((0, 0), (1, 1)).expand_as(images)  # relevance 0.9 and 0.7
    assert torch.all(out[changed] == value)
    assert torch.equal(out[~changed], images[~changed])


@pytest.mark.parametrize("k, patches", [(0, []), (1, [(0, 0)]), (2, [(0, 0), (1, 1)]),
                                        (3, [(0, 0), (1, 1), (1, 0)]), (4, [(0, 0), (1, 1), (1, 0), (0, 1)])])
def test_perturbing_is_cumulative(images, k, patches):
    out = perturb_most_relevant(images, perturbation_fill(images, "white"), _ranks(2), torch.tensor([k, k]))
    changed = _region(*patches).expand_as(images)
    assert torch.all(out[changed] == 1)
    assert torch.equal(out[~changed], images[~changed])


def test_each_image_gets_its_own_number_of_patches(images):
    fill = perturbation_fill(images, "black")
    ranks = pixel_ranks(torch.rand(2, 1, 8, 8), 2)
    out = perturb_most_relevant(images, fill, ranks, torch.tensor([0, 16]))
    assert torch.equal(out[0], images[0])
    assert torch.all(out[1] == 0)


def test_uniform_noise_is_per_pixel_in_unit_interval_and_seeded(images):
    noise = perturbation_fill(images, "uniform", seed=3)
    assert noise.shape == images.shape
    assert 0 <= noise.min() and noise.max() < 1
    assert len(noise.unique()) == noise.numel()
    assert torch.equal(noise, perturbation_fill(images, "uniform", seed=3))
    assert not torch.equal(noise, perturbation_fill(images, "uniform", seed=4))


def test_blur_matches_scipy_gaussian_filter_with_mirrored_border():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = 1.3
    expected = gaussian_filter(images.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", radius=(0, 0, 4, 4))
    np.testing.assert_allclose(perturbation_fill(images, "blur", blur_sigma=sigma).numpy(), expected, atol=1e-6)


def test_blur_keeps_a_flat_image_and_softens_an_edge():
    flat = torch.full((1, 3, 16, 16), 0.3)
    torch.testing.assert_close(gaussian_blurred(flat, 2.0), flat)
    edge = torch.zeros(1, 1, 16, 16)
    edge[..., 8:] = 1
    row = gaussian_blurred(edge, 1.0)[0, 0, 0]
    assert row[0] < 1e-3 and row[-1] > 1 - 1e-3
    assert 0 < row[7] < 0.5 < row[8] < 1


def test_default_blur_sigma_is_4_px_at_224_and_scales_with_the_side():
    assert default_blur_sigma(224, 224) == pytest.approx(4.0)
    assert default_blur_sigma(56, 56) == pytest.approx(1.0)


def test_fills_keep_shape_dtype_and_device(images):
    for name in PERTURBATIONS:
        fill = perturbation_fill(images, name)
        assert fill.shape == images.shape and fill.dtype == images.dtype and fill.device == images.device


def test_unknown_perturbation_and_bad_sigma_are_refused(images):
    with pytest.raises(ValueError, match="unknown perturbation 'pink'.*black"):
        perturbation_fill(images, "pink")
    with pytest.raises(ValueError, match="blur_sigma must be > 0"):
        perturbation_fill(images, "blur", blur_sigma=0)
