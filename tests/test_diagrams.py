"""Shape tables and the architecture figure, read off real models."""

import pandas as pd
import pytest
import torch
import torchvision

from xmllib.course.diagrams import (
    architecture_figure,
    explainer_table,
    gate_table,
    output_shapes,
)
from xmllib.models import (
    Explainer,
    GatedClassifier,
    build_model,
    resnet_classifier,
    vgg_classifier,
)


def test_gate_table_of_resnet18_block_gating_at_64_px():
    table = gate_table(resnet_classifier("resnet18", 2), 64)
    expected = pd.DataFrame({
        "gate": ["maxpool", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0",
                 "layer4.1"],
        "module": ["MaxPool2d"] + ["SafeBasicBlock"] * 8,
        "channels": [64, 64, 64, 128, 128, 256, 256, 512, 512],
        "height": [16, 16, 16, 8, 8, 4, 4, 2, 2],
        "width": [16, 16, 16, 8, 8, 4, 4, 2, 2],
        "pixels_per_cell": [16, 16, 16, 64, 64, 256, 256, 1024, 1024],
    })
    pd.testing.assert_frame_equal(table, expected)


def test_gate_table_of_the_small_vgg():
    table = gate_table(vgg_classifier(2, width=4), 32)
    assert table[["gate", "channels", "height", "pixels_per_cell"]].values.tolist() == [
        ["stage1", 4, 32, 1], ["stage2", 8, 16, 4], ["stage3", 16, 8, 16], ["stage4", 32, 4, 64],
    ]


def test_gate_table_of_any_torchvision_cnn_matches_running_its_layers_one_by_one():
    backbone = torchvision.models.mobilenet_v3_small(num_classes=2).eval()
    x, by_hand = torch.zeros(1, 3, 64, 64), {}
    with torch.no_grad():
        for name, layer in backbone.features.named_children():
            x = layer(x)
            by_hand[f"features.{name}"] = tuple(x.shape[1:])
    names = ["features.0", "features.1", "features.3", "features.8", "features.12"]
    table = gate_table(GatedClassifier(backbone, names, size_divisor=32), 64)
    assert [tuple(row) for row in table[["channels", "height", "width"]].values] == [by_hand[n] for n in names]


def test_explainer_table_follows_the_u_net():
    table = explainer_table(Explainer(width=4), 32)
    shapes = {row.block: (row.channels, row.height, row.width) for row in table.itertuples()}
    assert list(shapes)[:3] == ["enc1", "pool1", "enc2"] and list(shapes)[-1] == "clip"
    assert shapes["enc1"] == (4, 32, 32) and shapes["enc3"] == (16, 8, 8) and shapes["pool3"] == (16, 4, 4)
    assert shapes["dec3"] == (16, 8, 8) and shapes["dec1"] == (4, 32, 32) and shapes["clip"] == (1, 32, 32)


def test_output_shapes_leaves_no_hooks_and_restores_the_modes():
    model = Explainer(width=2).train()
    shapes = output_shapes(model, ["enc2"], lambda: model(torch.zeros(1, 3, 16, 16)))
    assert shapes == {"enc2": (4, 8, 8)}
    assert model.training and all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match=r"\['nope'\] are not submodules"):
        output_shapes(model, ["nope"], lambda: None)


@pytest.mark.parametrize(("gates", "count"), [("block", 9), ("stage", 5)])
def test_architecture_figure_draws_every_gate_of_the_real_model(gates, count):
    model = build_model("resnet18", 3, gates=gates, explainer_width=4)
    texts = [text.get_text() for text in architecture_figure(model, 32).axes[0].texts]
    for row in gate_table(model.classifier, 32).itertuples():
        assert f"{row.gate}\n{row.channels} x {row.height} x {row.width}" in texts
    assert "logits\n3" in texts and f"Classifier with {count} gates" in texts
    assert "dec1\n4 x 32 x 32" in texts and "heatmap\n1 x 32 x 32" in texts


def test_architecture_figure_names_an_image_size_the_model_cannot_take():
    with pytest.raises(ValueError, match="divisible by 32"):
        architecture_figure(build_model("resnet18", 2, explainer_width=4), 48)
