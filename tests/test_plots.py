import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from xmllib.plots import (  # noqa: E402
    HEATMAP_CMAP,
    explanation_grid,
    heatmap_strip,
    overlay,
    roc_pr_curves,
    training_curves,
)

SIZE = 8


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """The plots use the object API: nothing may be left open in pyplot."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def samples(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(n)
    images = torch.rand(n, 3, SIZE, SIZE, generator=generator)
    heatmaps = torch.rand(n, 1, SIZE, SIZE, generator=generator)
    masks = torch.zeros(n, 1, SIZE, SIZE)
    masks[:, :, 2:5, 3:6] = 1
    return images, heatmaps, masks


def renders(fig: Figure) -> bool:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue().startswith(b"\x89PNG")


def contours(ax) -> list[ContourSet]:
    return [artist for artist in ax.collections if isinstance(artist, ContourSet)]


def test_overlay_draws_image_heatmap_and_mask_outline():
    images, heatmaps, masks = samples(1)
    fig = Figure()
    ax = fig.subplots()
    artist = overlay(ax, images[0], heatmaps[0], masks[0], alpha=0.4)
    assert len(ax.images) == 2 and artist is ax.images[1]
    np.testing.assert_allclose(ax.images[0].get_array(), images[0].permute(1, 2, 0).numpy())
    np.testing.assert_allclose(artist.get_array(), heatmaps[0, 0].numpy())
    assert artist.get_cmap().name == HEATMAP_CMAP
    assert artist.get_alpha() == 0.4 and artist.get_clim() == (0.0, 1.0)
    assert len(contours(ax)) == 1
    assert renders(fig)


def test_overlay_accepts_an_h_x_w_x_3_array_and_skips_outline_of_an_empty_mask():
    images, heatmaps, _ = samples(1)
    ax = Figure().subplots()
    overlay(ax, images[0].permute(1, 2, 0).numpy(), heatmaps[0, 0], torch.zeros(SIZE, SIZE))
    assert len(ax.images) == 2 and contours(ax) == []


def test_overlay_value_range_none_scales_to_the_heatmap():
    images, heatmaps, _ = samples(1)
    artist = overlay(Figure().subplots(), images[0], heatmaps[0] * 5, value_range=None)
    assert artist.get_clim() == pytest.approx((heatmaps[0].min().item() * 5, heatmaps[0].max().item() * 5))


def test_overlay_rejects_bad_shapes():
    images, heatmaps, _ = samples(1)
    ax = Figure().subplots()
    with pytest.raises(ValueError, match="3 x H x W"):
        overlay(ax, images[0].permute(1, 2, 0), heatmaps[0])
    with pytest.raises(ValueError, match="must match"):
        overlay(ax, images[0], heatmaps[0, :, :4])


def test_explanation_grid_has_three_panels_per_sample_and_red_titles_when_wrong():
    images, heatmaps, masks = samples(5)
    labels, predictions = torch.tensor([0, 1, 1, 0, 1]), torch.tensor([0, 0, 1, 0, 1])
    fig = explanation_grid(images, heatmaps, masks, labels, predictions, ["horse", "zebra"], ncols=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 16
    assert fig.axes[-1].get_ylabel() == "heatmap value" and fig.axes[-1].get_ylim() == (0.0, 1.0)
    image_axes = [ax for ax in fig.axes if ax.get_title()]
    titles = [ax.get_title() for ax in image_axes]
    assert titles[:2] == ["true: horse\npred: horse", "true: zebra\npred: horse"]
    colours = [ax.title.get_color() for ax in image_axes]
    assert colours == ["black", "red", "black", "black", "black"]
    overlays = [ax for ax in fig.axes if len(ax.images) == 2]
    assert len(overlays) == 5 and all(len(contours(ax)) == 1 for ax in overlays)
    assert renders(fig)


def test_explanation_grid_without_labels_or_masks():
    images, heatmaps, _ = samples(3)
    fig = explanation_grid(images, heatmaps)
    assert len(fig.axes) == 10 and fig.axes[-1].get_ylabel() == "heatmap value"
    assert all(ax.get_title() == "" for ax in fig.axes)
    assert all(contours(ax) == [] for ax in fig.axes)


def test_explanation_grid_rejects_mismatched_batches():
    images, heatmaps, _ = samples(3)
    with pytest.raises(ValueError, match="same number"):
        explanation_grid(images, heatmaps[:2])
    with pytest.raises(ValueError, match="one per sample"):
        explanation_grid(images, heatmaps, labels=[0, 1])


def history() -> pd.DataFrame:
    rows = []
    for phase, epochs in [(1, 2), (2, 2), (3, 3)]:
        for epoch in range(1, epochs + 1):
            step = len(rows)
            rows.append(
                {"phase": phase, "epoch": epoch, "lr_clf": 0.01, "lr_expl": 0.01,
                 "train_loss": 2.0 - 0.1 * step, "train_clf_loss": 1.0 - 0.1 * step,
                 "train_expl_loss": 0.5, "train_accuracy": 0.5 + 0.05 * step,
                 "val_loss": 2.1 - 0.1 * step, "val_clf_loss": 1.1 - 0.1 * step,
                 "val_expl_loss": 0.6, "val_accuracy": 0.45 + 0.05 * step, "seconds": 1.0}
            )
    return pd.DataFrame(rows)


def test_training_curves_plots_train_and_val_over_running_epochs_with_phase_lines():
    frame = history()
    fig = training_curves(frame)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss (mean per image)", "cross-entropy", "explanation loss",
                                                    "share of images right"]
    for ax, key in zip(fig.axes, ["loss", "clf_loss", "expl_loss", "accuracy"]):
        curves = {tuple(line.get_ydata()) for line in ax.lines}
        assert tuple(frame[f"train_{key}"]) in curves and tuple(frame[f"val_{key}"]) in curves
        phase_lines = [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"]
        assert phase_lines == [2.5, 4.5]
        assert [text.get_text() for text in ax.texts] == ["phase 1", "phase 2", "phase 3"]
    [train_line] = [line for line in fig.axes[0].lines if tuple(line.get_ydata()) == tuple(frame["train_loss"])]
    assert list(train_line.get_xdata()) == [1, 2, 3, 4, 5, 6, 7]
    assert renders(fig)


def test_training_curves_names_missing_columns():
    with pytest.raises(ValueError, match="val_accuracy"):
        training_curves(history().drop(columns="val_accuracy"))


def legend_texts(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_roc_pr_curves_binary_shows_the_positive_class_with_auc():
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8])
    probs = torch.stack([1 - scores, scores], dim=1)
    fig = roc_pr_curves(probs, torch.tensor([0, 0, 1, 1]), ["horse", "zebra"])
    roc_ax, pr_ax = fig.axes
    assert legend_texts(roc_ax) == ["zebra (AUC = 0.750)"]
    # average precision: recall steps of 1/2 at precisions 1 (0.8) and 2/3 (0.35)
    assert legend_texts(pr_ax) == [f"zebra (AP = {(1 + 2 / 3) / 2:.3f})"]
    assert renders(fig)


def test_roc_pr_curves_multiclass_one_curve_per_class():
    generator = torch.Generator().manual_seed(0)
    probs = torch.rand(12, 3, generator=generator).softmax(dim=1)
    labels = torch.tensor([0, 1, 2] * 4)
    fig = roc_pr_curves(probs, labels, ["a", "b", "c"])
    roc_ax, pr_ax = fig.axes
    assert [text.split(" ")[0] for text in legend_texts(roc_ax)] == ["a", "b", "c"]
    assert all("AUC = " in text for text in legend_texts(roc_ax))
    assert all("AP = " in text for text in legend_texts(pr_ax))


def test_roc_pr_curves_rejects_absent_classes_and_wrong_names():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    with pytest.raises(ValueError, match="'b'"):
        roc_pr_curves(probs, torch.tensor([0, 2, 2]), ["a", "b", "c"])
    with pytest.raises(ValueError, match="class_names"):
        roc_pr_curves(probs, torch.tensor([0, 1, 2]), ["a", "b"])


def test_heatmap_strip_has_a_row_per_image_and_a_column_per_method():
    images, heatmaps, masks = samples(2)
    methods = {"in-model": heatmaps, "saliency": heatmaps * 10 - 3}
    fig = heatmap_strip(images, methods, masks)
    assert isinstance(fig, Figure) and len(fig.axes) == 7
    scale = fig.axes[-1]
    assert scale.get_ylabel() == "each map on its own scale"
    assert [tick.get_text() for tick in scale.get_yticklabels()] == ["its min", "its max"]
    shared = heatmap_strip(images, methods, masks, value_range=(0.0, 1.0)).axes[-1]
    assert shared.get_ylabel() == "heatmap value" and shared.get_ylim() == (0.0, 1.0)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image", "in-model", "saliency"]
    saliency = methods["saliency"][1]
    assert fig.axes[5].images[0].get_clim() == pytest.approx((saliency.min().item(), saliency.max().item()))
    assert all(len(contours(ax)) == 1 for i, ax in enumerate(fig.axes) if i % 3)
    assert renders(fig)


def test_heatmap_strip_rejects_a_heatmap_per_image_mismatch():
    images, heatmaps, _ = samples(2)
    with pytest.raises(ValueError, match="2 samples"):
        heatmap_strip(images, {"in-model": heatmaps[:1]})
