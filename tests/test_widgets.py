"""Notebook controls: setting widget values from Python changes what they draw."""

import math

import ipywidgets
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from xmllib import plots
from xmllib.course import playground, widgets
from xmllib.course.playground import optimise_heatmap
from xmllib.data import IndexDataset, read_index
from xmllib.models import Explainer, ExplainerClassifier, small_classifier


@pytest.fixture(scope="module")
def train_set(tiny_index):
    return IndexDataset(read_index(tiny_index), "train", 32)


@pytest.fixture(scope="module")
def positive(train_set):
    """Index of the first image that holds the target, so its mask is not empty."""
    return next(i for i in range(len(train_set)) if train_set[i]["mask"].any())


def panel_arrays(figure: Figure) -> list[np.ndarray]:
    """The data of the first image drawn in each axes of a figure."""
    return [np.asarray(ax.images[0].get_array()) for ax in figure.axes if ax.images]


def titled(value: int) -> Figure:
    if value < 0:
        raise ValueError(f"value must be >= 0, got {value}")
    figure = Figure()
    figure.suptitle(f"value {value}")
    return figure


def suptitle(figure: Figure) -> str:
    return figure._suptitle.get_text()


def test_live_figure_redraws_when_a_control_changes_and_reports_rejected_values():
    live = widgets.LiveFigure(titled, {"value": ipywidgets.IntSlider(value=1, min=-5, max=5)})
    assert suptitle(live.figure) == "value 1" and live.default is live.figure
    live.controls["value"].value = 4
    assert suptitle(live.figure) == "value 4" and live.message is None
    live.controls["value"].value = -2
    assert live.figure is None and live.message == "Cannot draw this: value must be >= 0, got -2"
    live.controls["value"].value = 3
    assert suptitle(live.figure) == "value 3" and live.message is None
    assert suptitle(live.default) == "value 1"


class Handle:
    """Stands for IPython's DisplayHandle: records what replaces the displayed output."""

    def __init__(self, shown: list) -> None:
        self.shown = shown

    def update(self, item: object) -> None:
        self.shown.append(("update", item))


def test_live_figure_shows_one_figure_and_redraws_it_in_place_or_shows_a_rejection(monkeypatch):
    shown = []

    def display(item, display_id=False):
        shown.append(("display", item))
        return Handle(shown) if display_id else None

    monkeypatch.setattr(widgets, "display", display)

    def count_up(to: int):
        for k in range(1, to + 1):
            yield titled(k)
        if to > 3:
            raise ValueError(f"counted past 3, to {to}")

    live = widgets.LiveFigure(count_up, {"to": ipywidgets.IntSlider(value=2)})
    assert suptitle(live.figure) == "value 2" and shown == []
    live._ipython_display_()
    assert [kind for kind, _ in shown] == ["display", "display"] and shown[0][1] is live.widget
    assert shown[1][1].format == "png", "one figure below the controls: the default state's"
    shown.clear()
    live.controls["to"].value = 3
    assert suptitle(live.figure) == "value 3", "a change redraws by itself, with no button"
    assert [kind for kind, _ in shown] == ["update"] * 3, "each figure of the drawing replaces the one shown"
    assert all(item.format == "png" for _, item in shown)
    shown.clear()
    live.controls["to"].value = 5
    assert live.figure is None and shown[-1] == ("update", "Cannot draw this: counted past 3, to 5")


def test_dataset_browser_follows_the_slider_and_the_mask_toggle(train_set, positive):
    browser = widgets.dataset_browser(train_set, index=positive)
    image_ax = browser.figure.axes[0]
    label = train_set.classes[int(train_set[positive]["label"])]
    assert image_ax.get_title() == f"image {positive}: {label}"
    assert len(image_ax.collections) > 0, "the mask outline is drawn"
    browser.controls["show_mask"].value = False
    assert len(browser.figure.axes[0].collections) == 0
    other = (positive + 1) % len(train_set)
    browser.controls["index"].value = other
    assert browser.figure.axes[0].get_title().startswith(f"image {other}: ")
    assert np.allclose(panel_arrays(browser.figure)[0], train_set[other]["image"].permute(1, 2, 0).numpy())


def test_sample_figure_names_an_index_outside_the_split(train_set):
    with pytest.raises(ValueError, match=f"holds images 0 to {len(train_set) - 1}"):
        plots.sample_figure(train_set, len(train_set))


def test_augmentation_figure_changes_with_p_and_repeats_with_the_seed(train_set, positive):
    explorer = widgets.augmentation_explorer(train_set, index=positive)
    explorer.controls["p"].value = 0.0
    original, *copies = panel_arrays(explorer.figure)[:6]
    assert all(np.array_equal(original, copy) for copy in copies), "p = 0 leaves the image as it is"
    explorer.controls["p"].value = 1.0
    augmented = panel_arrays(explorer.figure)
    assert not all(np.array_equal(original, copy) for copy in augmented[1:6])
    masks = augmented[6:]
    assert all(set(np.unique(mask)) <= {0.0, 1.0} for mask in masks), "masks stay binary"
    again = plots.augmentation_figure(train_set, positive, p=1.0, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(panel_arrays(again), augmented))


def test_first_heatmaps_differ_only_by_the_bias_before_the_tanh():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    low, high = widgets.first_heatmaps(images, 1.0, explainer_width=4), widgets.first_heatmaps(images, 2.0, 4)
    assert torch.equal(torch.get_rng_state(), state), "the global random state is left alone"
    assert torch.allclose(torch.atanh(high) - torch.atanh(low), torch.ones_like(low), atol=1e-4)
    assert widgets.first_heatmaps(images, -1.0, 4).max() == 0.0, "a negative bias gives black maps"


def test_init_bias_slider_brightens_the_first_heatmaps():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    slider = widgets.init_bias_slider(images, explainer_width=4)
    means = []
    for value in (0.0, 0.5, 1.0, 3.0):
        slider.controls["init_bias"].value = value
        heatmaps = panel_arrays(slider.figure)[2:]
        means.append(float(np.mean(heatmaps)))
        assert f"init_bias = {value:g}:" in suptitle(slider.figure)
    assert means == sorted(means) and means[-1] > 0.99 and means[-1] == pytest.approx(math.tanh(3.0), abs=5e-3)


def test_pooling_figure_one_relevant_pixel():
    heatmap = torch.zeros(1, 16, 16)
    heatmap[0, 5, 9] = 1.0
    slider = widgets.pooling_slider(heatmap)
    assert slider.controls["size"].options == (8, 4, 2)
    for size in (8, 4, 2):
        slider.controls["size"].value = size
        _, max_pooled, average_pooled = panel_arrays(slider.figure)
        cell = 16 // size
        by_hand = heatmap[0].reshape(size, cell, size, cell).mean(dim=(1, 3)).numpy()
        assert max_pooled.max() == 1.0 and (max_pooled > 0).sum() == 1
        assert np.allclose(average_pooled, by_hand) and average_pooled.max() == pytest.approx(1 / cell**2)


def test_pooling_figure_rejects_a_size_larger_than_the_heatmap():
    with pytest.raises(ValueError, match="between 1 and the heatmap's side 16"):
        plots.pooling_figure(torch.zeros(1, 16, 16), 32)


@pytest.fixture
def one_image():
    torch.manual_seed(0)
    image = torch.rand(3, 16, 16)
    mask = torch.zeros(1, 16, 16)
    mask[:, 4:10, 4:10] = 1
    return image, mask


def test_loss_playground_optimises_again_whenever_a_slider_moves(one_image):
    image, mask = one_image
    playground = widgets.loss_playground(image, mask, 0, steps=20, every=10)
    assert playground.controls["alpha"].value == 0.0, "no classifier: the classification term starts off"
    assert not any(control.continuous_update for control in playground.controls.values())
    start = playground.figure
    assert "after 20 steps" in start.axes[1].get_title()
    assert [len(line.get_xdata()) for line in start.axes[2].lines][:2] == [3, 3], "steps 0, 10 and 20"
    playground.controls["beta"].value = 1.0
    assert suptitle(playground.figure) == "α = 0, β = 1, γ = 1"
    playground.controls["gamma"].value = 0.0
    assert suptitle(playground.figure) == "α = 0, β = 1, γ = 0"
    assert not np.array_equal(panel_arrays(playground.figure)[1], panel_arrays(start)[1])


def test_loss_playground_without_a_classifier_explains_why_alpha_must_be_0(one_image):
    image, mask = one_image
    playground = widgets.loss_playground(image, mask, 0, steps=4, every=2)
    playground.controls["alpha"].value = 0.5
    assert playground.figure is None and "needs a classifier" in playground.message
    playground.controls["alpha"].value = 0.0
    assert suptitle(playground.figure) == "α = 0, β = 0.9, γ = 1" and playground.message is None


def test_loss_playground_with_a_classifier_plots_the_true_class_probability(one_image):
    image, mask = one_image
    model = ExplainerClassifier(Explainer(width=2), small_classifier(2, width=2)).eval().requires_grad_(False)
    playground = widgets.loss_playground(image, mask, 1, model, steps=4, every=2)
    assert playground.controls["alpha"].value == 0.25
    (line,) = playground.figure.axes[3].lines
    probabilities = np.asarray(line.get_ydata())
    assert len(probabilities) == 3 and np.all((0 < probabilities) & (probabilities < 1))


def test_playground_grid_shows_where_each_setting_converges(one_image):
    image, mask = one_image
    settings = [(0.0, 1.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.5, 3.0)]
    figure = playground.playground_grid(image, mask, 0, None, settings, steps=10)
    heatmaps = panel_arrays(figure)[1:]
    assert len(heatmaps) == 3
    for heatmap, (alpha, beta, gamma) in zip(heatmaps, settings):
        *_, last = optimise_heatmap(image, mask, 0, alpha=alpha, beta=beta, gamma=gamma, steps=10, every=10)
        assert np.array_equal(heatmap, last.heatmap[0, 0].numpy())
    assert figure.axes[3].get_title().startswith("α = 0, β = 0.5, γ = 3\nin mask")
    with pytest.raises(ValueError, match="settings is empty"):
        playground.playground_grid(image, mask, 0, None, [])


def test_first_heatmaps_of_the_sigmoid_head_differ_by_the_bias_before_the_sigmoid():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    low = widgets.first_heatmaps(images, -1.0, 4, head="sigmoid")
    high = widgets.first_heatmaps(images, 1.0, 4, head="sigmoid")
    assert torch.allclose(torch.logit(high) - torch.logit(low), torch.full_like(low, 2.0), atol=1e-4)
    slider = widgets.init_bias_slider(images, explainer_width=4, head="sigmoid", value=-1.0)
    assert "sigmoid head, init_bias = -1:" in suptitle(slider.figure)
    assert "sigmoid(-1) = 0.269" in suptitle(slider.figure)
