"""Live training plots: rules of thumb, curves, recorded heatmaps, redrawing, the animation, the progress bar."""

import functools
import io

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image as PILImage

from xmllib.course import live
from xmllib.course.live import HeatmapFrames, LiveTraining, ProgressBar, rule_of_thumb_report
from xmllib.data import make_loaders
from xmllib.models import build_model
from xmllib.plots import FrameGrid, explanation_grid, figure_png, frame_grid, heatmap_animation, phase_curves
from xmllib.plots.training import RULES_OF_THUMB, rule_of_thumb_epoch
from xmllib.training import train_phase

COLUMNS = [f"{split}_{key}" for key in ("loss", "clf_loss", "expl_loss", "accuracy") for split in ("train", "val")]


def phase_history(phase: int, val_clf: list[float], val_expl: list[float]) -> pd.DataFrame:
    rows = []
    for epoch, (clf, expl) in enumerate(zip(val_clf, val_expl), start=1):
        row = {column: 0.5 for column in COLUMNS}
        row.update(phase=phase, epoch=epoch, val_clf_loss=clf, val_expl_loss=expl, val_loss=clf + expl)
        rows.append(row)
    return pd.DataFrame(rows)


def start_row(clf: float, expl: float) -> dict[str, float]:
    return {**{column: 0.5 for column in COLUMNS}, "val_clf_loss": clf, "val_expl_loss": expl, "val_loss": clf + expl}


def small_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("resnet18", 2, explainer_width=4)


@functools.cache
def shared_model(seed: int = 0):
    """A model for the tests that only run it (building one is most of a small test's time)."""
    return small_model(seed)


def small_batch(n: int = 2, size: int = 32) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(n)
    masks = torch.zeros(n, 1, size, size)
    masks[:, :, 8:20, 4:16] = 1
    return {"image": torch.rand(n, 3, size, size, generator=generator), "mask": masks,
            "label": torch.arange(n) % 2}


def lines(ax) -> list[Line2D]:
    return list(ax.get_lines())


def test_rule_of_thumb_epoch_is_the_first_epoch_at_or_below_the_fraction():
    assert rule_of_thumb_epoch([1.0, 0.5, 0.3, 0.25, 0.1], 0.25) == 3
    assert rule_of_thumb_epoch([0.8, 0.7, 0.6], 0.25) is None
    assert rule_of_thumb_epoch([0.8, 0.1, 0.5, 0.0], 0.25) == 1


def test_rule_of_thumb_epoch_matches_a_loop():
    rng = np.random.default_rng(0)
    for _ in range(50):
        values = rng.uniform(0.01, 1.0, size=rng.integers(1, 8))
        expected = next((k for k in range(1, len(values)) if values[k] <= 0.3 * values[0]), None)
        assert rule_of_thumb_epoch(values, 0.3) == expected


@pytest.mark.parametrize("values", [[], [0.0, 0.1], [[1.0, 0.5]]])
def test_rule_of_thumb_epoch_refuses_values_without_a_positive_start(values):
    with pytest.raises(ValueError, match="positive value"):
        rule_of_thumb_epoch(values, 0.25)


def test_the_rules_of_thumb_are_the_authors():
    assert (RULES_OF_THUMB[1].column, RULES_OF_THUMB[1].fraction) == ("clf_loss", 0.25)
    assert (RULES_OF_THUMB[2].column, RULES_OF_THUMB[2].fraction) == ("expl_loss", 0.20)
    assert 3 not in RULES_OF_THUMB


def test_a_phase_starting_at_zero_loss_gets_no_rule_and_no_error():
    history = pd.concat([phase_history(1, [0.6, 0.4], [1.0, 1.0]), phase_history(2, [0.5, 0.5], [0.0, 0.1])])
    start = start_row(0.5, 0.0)
    expl_ax = phase_curves(history, 2, start).axes[2]
    assert not [line for line in lines(expl_ax) if line.get_color() == "green"]
    assert "was already 0 before the phase: the rule, a fraction of the start, does not apply" in \
        rule_of_thumb_report(history, 2, start)


def test_phase_curves_draw_the_start_the_rule_and_the_kept_epoch():
    history = pd.concat([phase_history(1, [0.6, 0.4], [1.0, 1.0]), phase_history(2, [0.5, 0.5, 0.5], [1.0, 0.3, 0.1])])
    fig = phase_curves(history, 2, start_row(0.5, 1.0))
    loss_ax, clf_ax, expl_ax, accuracy_ax = fig.axes
    val_expl = next(line for line in lines(expl_ax) if line.get_label() == "val")
    np.testing.assert_allclose(val_expl.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_allclose(val_expl.get_ydata(), [1.0, 1.0, 0.3, 0.1])
    threshold = next(line for line in lines(expl_ax) if "of start" in line.get_label())
    np.testing.assert_allclose(threshold.get_ydata(), [0.2, 0.2])
    marked = next(line for line in lines(expl_ax) if "rule of thumb" in line.get_label())
    np.testing.assert_allclose(marked.get_xdata(), [3, 3])
    kept = next(line for line in lines(loss_ax) if "kept" in line.get_label())
    np.testing.assert_allclose(kept.get_xdata(), [3, 3])
    assert not any("of start" in line.get_label() for line in lines(clf_ax) + lines(accuracy_ax))


def test_phase_curves_mark_the_kept_epoch_not_the_lowest_loss_when_that_epoch_was_not_accurate_enough():
    history = phase_history(2, [0.5, 0.5, 0.5], [1.0, 0.3, 0.1])
    history["val_accuracy"] = [0.95, 0.93, 0.40]
    history["val_accuracy_floor"] = 0.9
    kept = next(line for line in lines(phase_curves(history, 2).axes[0]) if "kept" in line.get_label())
    np.testing.assert_allclose(kept.get_xdata(), [2, 2])


def test_phase_curves_without_a_start_draw_no_rule():
    fig = phase_curves(phase_history(1, [0.6, 0.1], [1.0, 1.0]), 1)
    clf_ax = fig.axes[1]
    assert [line.get_label() for line in lines(clf_ax)] == ["train", "val"]
    np.testing.assert_allclose(lines(clf_ax)[1].get_xdata(), [1, 2])


def test_phase_curves_refuse_a_history_without_the_phase_or_its_columns():
    with pytest.raises(ValueError, match="no epoch of phase 3"):
        phase_curves(phase_history(1, [0.6], [1.0]), 3)
    with pytest.raises(ValueError, match="lacks the columns"):
        phase_curves(phase_history(1, [0.6], [1.0]).drop(columns="val_accuracy"), 1)


def test_rule_of_thumb_report_says_where_the_phase_would_have_stopped():
    history = phase_history(1, [0.6, 0.16, 0.05], [1.0, 1.0, 1.0])
    text = rule_of_thumb_report(history, 1, start_row(0.8, 1.0))
    assert "after epoch 2" in text and "6% of its start" in text
    assert "did not reach" in rule_of_thumb_report(phase_history(1, [0.7], [1.0]), 1, start_row(0.8, 1.0))
    collapsed = rule_of_thumb_report(phase_history(2, [0.5, 0.5], [0.1, 0.0]), 2, start_row(0.5, 1.0))
    assert "black maps" in collapsed and "after epoch 1" in collapsed
    assert "epoch 2" in rule_of_thumb_report(phase_history(3, [0.5, 0.2, 0.3], [1.0, 1.0, 1.0]), 3,
                                             start_row(0.5, 1.0))


def test_heatmap_frames_round_trip_to_within_one_level():
    frames = HeatmapFrames()
    model = shared_model()
    frames.add(0, model, small_batch()["image"])
    frames.add(1, shared_model(1), small_batch()["image"])
    state = frames.state_dict()
    assert state["heatmaps"].dtype == torch.uint8
    back = HeatmapFrames.from_state_dict(state)
    assert back.epochs == [0, 1]
    for before, after in zip(frames.heatmaps, back.heatmaps):
        torch.testing.assert_close(after, before, atol=0.5 / 255 + 1e-6, rtol=0)
    assert all(torch.equal(a, b) for a, b in zip(frames.predictions, back.predictions))


def test_frame_grid_titles_the_frame_with_its_epoch():
    frames = HeatmapFrames()
    frames.add(0, shared_model(), small_batch()["image"])
    frames.add(4, shared_model(), small_batch()["image"])
    assert frame_grid(small_batch(), frames, phase=2, index=0)._suptitle.get_text() == "before phase 2"
    assert frame_grid(small_batch(), frames, phase=2)._suptitle.get_text() == "phase 2, after epoch 4"
    with pytest.raises(ValueError, match="no frames"):
        frame_grid(small_batch(), HeatmapFrames())


def drawn(figure: Figure) -> dict[str, list]:
    """What an explanation grid shows: its images' data, its titles with their colours, the figure's title."""
    images = [np.asarray(image.get_array()) for ax in figure.axes for image in ax.get_images()]
    titles = [(ax.get_title(), ax.title.get_color()) for ax in figure.axes]
    suptitle = figure._suptitle.get_text() if figure._suptitle is not None else None
    return {"images": images, "titles": titles, "suptitle": [suptitle]}


def test_a_frame_grid_moved_to_a_frame_shows_what_a_new_grid_of_that_frame_shows():
    batch = small_batch(3)
    frames = HeatmapFrames()
    for epoch, seed in ((0, 0), (1, 1), (2, 2)):
        frames.add(epoch, shared_model(seed), batch["image"])
    frames.predictions[1] = 1 - batch["label"]  # wrong predictions, shown in red
    grid = FrameGrid(batch, frames, ["a", "b"], phase=3)
    for index in (1, 0, -1):
        expected = explanation_grid(batch["image"], frames.heatmaps[index], batch["mask"], batch["label"],
                                    frames.predictions[index], ["a", "b"])
        expected.suptitle(f"phase 3, after epoch {frames.epochs[index]}" if frames.epochs[index] else "before phase 3")
        actual, wanted = drawn(grid.show(index)), drawn(expected)
        assert actual["titles"] == wanted["titles"] and actual["suptitle"] == wanted["suptitle"]
        assert len(actual["images"]) == len(wanted["images"]) == 3 * 4  # image, heatmap, overlay (image and map)
        for got, want in zip(actual["images"], wanted["images"]):
            np.testing.assert_array_equal(got, want)
    assert [colour for _, colour in drawn(grid.show(1))["titles"] if colour == "red"] == ["red"] * 3
    assert figure_png(grid.show()).data.startswith(b"\x89PNG")


def test_figure_png_has_the_size_of_its_dpi():
    figure = Figure(figsize=(2, 1))
    figure.subplots().plot([0, 1])
    for dpi in (30, 60):
        png = figure_png(figure, dpi)
        assert PILImage.open(io.BytesIO(png.data)).size == (2 * dpi, dpi)


def gif_frames(data: bytes) -> list[np.ndarray]:
    gif = PILImage.open(io.BytesIO(data))
    frames = []
    for k in range(gif.n_frames):
        gif.seek(k)
        frames.append(np.asarray(gif.convert("L"), dtype=float))
    return frames


def test_heatmap_animation_has_one_frame_per_epoch_showing_its_heatmaps():
    batch = small_batch(2)
    frames = HeatmapFrames(epochs=[0, 1, 2], predictions=[torch.zeros(2, dtype=torch.long)] * 3,
                           heatmaps=[torch.ones(2, 1, 32, 32), torch.zeros(2, 1, 32, 32), torch.ones(2, 1, 32, 32)])
    image = heatmap_animation(batch, frames, phase=2)
    assert image.data.startswith(b"GIF8")
    decoded = gif_frames(image.data)
    assert len(decoded) == 3
    height = decoded[0].shape[0]
    lower = [frame[height // 2 :].mean() for frame in decoded]  # the heatmap row
    assert lower[0] > lower[1] + 20 and lower[2] > lower[1] + 20
    with pytest.raises(ValueError, match="no frames"):
        heatmap_animation(batch, HeatmapFrames())


class FakeHandle:
    def __init__(self, shown):
        self.shown = [shown]

    def update(self, output):
        self.shown.append(output)


@pytest.fixture
def displays(monkeypatch):
    """Record what LiveTraining displays, with fake display handles."""
    record = {"handles": [], "plain": [], "cleared": 0}

    def display(*outputs, display_id=None):
        if display_id:
            handle = FakeHandle(outputs[0])
            record["handles"].append(handle)
            return handle
        record["plain"].append(outputs)
        return None

    def clear_output(wait=False):
        record["cleared"] += 1

    monkeypatch.setattr(live, "display", display)
    monkeypatch.setattr(live, "clear_output", clear_output)
    return record


def test_live_training_updates_two_handles_in_place_every_epoch(displays):
    model, batch = shared_model(), small_batch()
    callback = LiveTraining(model, batch, 1, class_names=["a", "b"], dpi=20)
    curves, grid = displays["handles"]
    assert curves.shown == [live.CURVES_PENDING] and len(grid.shown) == 1
    for epoch in (1, 2):
        callback.on_epoch_end(phase_history(1, [0.5, 0.4][:epoch], [1.0, 1.0][:epoch]), model)
    assert len(displays["handles"]) == 2 and displays["plain"] == []
    assert len(curves.shown) == 3 and len(grid.shown) == 3
    assert all(shown.data.startswith(b"\x89PNG") for shown in curves.shown[1:] + grid.shown)
    assert callback.frames.epochs == [0, 1, 2]


def test_live_training_as_a_training_callback(tiny_index, tiny_config):
    config = tiny_config.replace(epochs=(2, 1, 1), patience=(5, 5, 5))
    loaders = make_loaders(tiny_index, config.image_size, config.batch_size, config.aug_prob, config.seed)
    model = small_model()
    callback = LiveTraining(model, small_batch(), 1, show=False)
    history = train_phase(model, config, 1, loaders, class_names=["a", "b"], callbacks=[callback])
    assert callback.frames.epochs == [0, 1, 2]
    assert callback.history is not None and callback.history.equals(history)
    assert not torch.equal(callback.frames.predictions[0], callback.frames.predictions[2]) or not torch.equal(
        callback.frames.heatmaps[0], callback.frames.heatmaps[2])


def test_live_training_records_the_model_heatmaps_of_each_epoch(displays):
    model, batch = shared_model(), small_batch()
    callback = LiveTraining(model, batch, 3, show=False)
    assert displays == {"handles": [], "plain": [], "cleared": 0}
    torch.testing.assert_close(callback.frames.heatmaps[0], model.explain(batch["image"])[1])
    trained = shared_model(seed=1)
    history = phase_history(3, [0.5], [1.0])
    callback.on_epoch_end(history, trained)
    torch.testing.assert_close(callback.frames.heatmaps[1], trained.explain(batch["image"])[1])
    assert callback.frames.epochs == [0, 1]
    assert callback.animation().data.startswith(b"GIF8")


def test_live_training_inside_a_widget_clears_and_draws_again(displays):
    callback = LiveTraining(shared_model(), small_batch(), 1, start=start_row(0.7, 1.0), redraw="clear", dpi=20)
    callback.on_epoch_end(phase_history(1, [0.3], [1.0]), shared_model())
    assert displays["handles"] == [] and displays["cleared"] == 2
    assert [len(outputs) for outputs in displays["plain"]] == [2, 2]
    with pytest.raises(ValueError, match="redraw"):
        LiveTraining(shared_model(), small_batch(), 1, redraw="append")


def test_progress_bar_redraws_one_handle_with_the_epochs_done(displays):
    bar = ProgressBar(2, epochs=5)
    history = pd.concat([phase_history(1, [0.6], [1.0]), phase_history(2, [0.5, 0.4], [1.0, 0.8])])
    for k in (2, 3):
        bar.on_epoch_end(history.iloc[:k], shared_model())
    (handle,) = displays["handles"]
    texts = [str(shown.data) for shown in handle.shown]
    assert [text.split("|")[-1].split()[0] for text in texts] == ["0/5", "1/5", "2/5"]
    assert texts[-1].startswith("training phase 2") and "val_loss=1.200" in texts[-1]


def test_progress_bar_gives_way_to_a_record_line_of_the_kept_epoch_when_the_phase_ends(displays):
    bar = ProgressBar(2, epochs=5)
    history = pd.concat([phase_history(1, [0.6], [1.0]), phase_history(2, [0.5, 0.4, 0.9], [1.0, 0.8, 0.8])])
    bar.on_phase_end(history, shared_model())
    (handle,) = displays["handles"]
    last = str(handle.shown[-1].data)
    assert last.startswith("phase 2 trained 3 of 5 epochs in 0 min ")
    assert last.endswith("kept epoch 2: val loss 1.200, val accuracy 0.50")
    assert "|" not in last, "no bar is left behind"


def test_progress_bar_prints_outside_ipython(capsys):
    bar = ProgressBar(1, epochs=2)
    bar.on_epoch_end(phase_history(1, [0.6], [1.0]), shared_model())
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "1/2" in lines[1]
