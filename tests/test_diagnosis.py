"""The diagnosis: oracle heatmaps against explicit classifier calls, the head's gradient by construction."""

import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from xmllib.data import IndexDataset, read_index
from xmllib.evaluation.diagnosis import ORACLES, head_gradient, oracle_accuracies
from xmllib.models import build_model


@pytest.fixture
def loader(tiny_index):
    return DataLoader(IndexDataset(read_index(tiny_index), "test", 32), batch_size=3)


def explicit_accuracy(model, loader, make_map):
    """Accuracy of the classifier called directly with the normalised images and a chosen map."""
    correct = total = 0
    with torch.no_grad():
        for batch in loader:
            normalised = (batch["image"] - model.mean) / model.std
            heatmap = make_map(model.explainer(normalised), batch)
            logits = model.classifier(normalised, heatmap)
            correct += int((logits.argmax(1) == batch["label"]).sum())
            total += len(batch["label"])
    return correct / total


def test_oracle_accuracies_match_explicit_classifier_calls(loader):
    torch.manual_seed(0)
    model = build_model("resnet18", 2, explainer_width=4, init_bias=0.5).eval()
    model.classifier.backbone.fc.bias.data = torch.tensor([0.0, 0.3])
    table = oracle_accuracies(model, loader).set_index("heatmap")
    assert list(table.index) == list(ORACLES)
    for name in ("explainer", "explainer x 0.8", "white", "target boxes, black negatives"):
        expected = explicit_accuracy(model, loader, lambda h, b, name=name: {
            "explainer": h, "explainer x 0.8": 0.8 * h, "white": torch.ones_like(h),
            "target boxes, black negatives": b["mask"] * (b["mask"].flatten(1).amax(1) > 0).view(-1, 1, 1, 1),
        }[name])
        assert table.loc[name, "accuracy"] == pytest.approx(expected)
    # a black map leaves the fc bias alone: every image is called class 1
    assert table.loc["black", "positive_share"] == 1.0


def test_oracles_that_need_distractor_boxes_are_left_out_without_them(tiny_index, tmp_path):
    index = read_index(tiny_index)
    index["distractors"] = ""
    loader = DataLoader(IndexDataset(index, "test", 32), batch_size=4)
    table = oracle_accuracies(build_model("resnet18", 2, explainer_width=4).eval(), loader)
    assert "every object's boxes" not in set(table["heatmap"])
    assert "target boxes, black negatives" in set(table["heatmap"])


@pytest.mark.parametrize("bias, dead, saturated", [(0.0, 0.0, 0.0), (6.0, 1.0, 1.0), (-6.0, 1.0, 0.0)])
def test_head_gradient_of_a_constant_sigmoid_head(loader, bias, dead, saturated):
    model = build_model("resnet18", 2, explainer_width=4, head="sigmoid")
    model.explainer.to_heatmap.weight.data.zero_()
    model.explainer.to_heatmap.bias.data.fill_(bias)
    figures = head_gradient(model, loader)
    assert figures.dead_pixel_share == dead
    assert figures.saturated_pixel_share == saturated
    assert figures.mean_heatmap == pytest.approx(torch.sigmoid(torch.tensor(bias)).item(), rel=1e-5)


def test_head_gradient_counts_the_paper_heads_switched_off_pixels_and_keeps_modes(loader):
    torch.manual_seed(0)
    model = build_model("resnet18", 2, explainer_width=4, init_bias=-5.0)
    model.classifier.eval()
    figures = head_gradient(model, loader)
    assert figures.dead_pixel_share == 1.0 and figures.saturated_pixel_share == 0.0
    assert model.explainer.training and not model.classifier.training
    assert isinstance(oracle_accuracies(model, loader), pd.DataFrame)
    assert model.explainer.training and not model.classifier.training


def test_describe_diagnosis_reads_every_number_from_the_tables():
    from xmllib.evaluation.diagnosis import describe_diagnosis

    oracles = pd.DataFrame({"heatmap": ["explainer", "explainer x 0.8", "explainer x 1.25",
                                        "explainer inside target boxes, black negatives"],
                            "accuracy": [0.93, 0.5, 0.61, 0.97], "positive_share": [0.5, 1.0, 0.0, 0.5]})
    head = {"dead_pixel_share": 0.86, "saturated_pixel_share": 0.06,
            "mean_heatmap": 0.163}
    text = describe_diagnosis(oracles, head)
    assert "right on 93% of the images; with them dimmed by 20%: 50%, brightened by 25%: 61%" in text
    assert "hangs on the map's overall level" in text
    assert "give 97%: the classifier accepts a map that singles out the target" in text
    assert "evidence outside" not in text
    assert "86% of the heatmap pixels" in text and "6% stuck lit, 80% stuck dark); mean heatmap 0.16" in text
    steady = oracles.assign(accuracy=[0.93, 0.92, 0.93, 0.5])
    text = describe_diagnosis(steady, head)
    assert "overall level" not in text and "does not accept" in text
    assert "So on about 43% of the images its right answer needs evidence outside the target boxes" in text
    assert "mostly accepts (5% fewer right)" in describe_diagnosis(oracles.assign(accuracy=[0.99, 0.97, 0.99, 0.94]),
                                                                    head)


@pytest.mark.parametrize("selectivity, verdict", [(0.9, "single out the targets"),
                                                  (0.47, "favour the targets a little"),
                                                  (0.445, "light every object alike")])
def test_describe_localisation_reads_the_summary(selectivity, verdict):
    from xmllib.evaluation.diagnosis import describe_localisation

    text = describe_localisation({"test_accuracy": 0.99, "target_selectivity": selectivity,
                                  "every_object_selectivity": 0.445, "mass_inside_mask": 0.61})
    assert f"target selectivity {selectivity:.3f} against 0.445" in text and verdict in text
    assert "Accuracy 0.990" in text and "mass inside the target boxes 0.610" in text
