"""The loss playground: the free heatmap's objective, its optimisation, and the small frozen classifier."""

import math

import pytest
import torch
import torch.nn.functional as F

from xmllib.course import playground
from xmllib.course.playground import classifier_config, frozen_classifier, optimise_heatmap
from xmllib.models import Explainer, ExplainerClassifier, small_classifier

SIZE = 16


@pytest.fixture
def example():
    """A 16 px image, a mask over a 6 x 6 box, and a small untrained model in eval mode."""
    torch.manual_seed(0)
    image = torch.rand(3, SIZE, SIZE)
    mask = torch.zeros(1, SIZE, SIZE)
    mask[:, 4:10, 5:11] = 1
    model = ExplainerClassifier(Explainer(width=2), small_classifier(2, width=2)).eval()
    model.requires_grad_(False)
    return image, mask, model


def hybrid_by_hand(z: torch.Tensor, mask: torch.Tensor, beta: float, gamma: float) -> float:
    """beta * mean|z| + (1 - beta) * total variation + gamma * mean of z outside the mask, with loops."""
    z, m = z.reshape(SIZE, SIZE).tolist(), mask.reshape(SIZE, SIZE).tolist()
    sparsity = sum(abs(v) for row in z for v in row) / SIZE**2
    vertical = sum(abs(z[i + 1][j] - z[i][j]) for i in range(SIZE - 1) for j in range(SIZE)) / ((SIZE - 1) * SIZE)
    horizontal = sum(abs(z[i][j + 1] - z[i][j]) for i in range(SIZE) for j in range(SIZE - 1)) / (SIZE * (SIZE - 1))
    outside = sum((1 - m[i][j]) * z[i][j] for i in range(SIZE) for j in range(SIZE))
    weak = outside / (sum(1 - m[i][j] for i in range(SIZE) for j in range(SIZE)) + 1e-6)
    return beta * sparsity + (1 - beta) * (vertical + horizontal) + gamma * weak


def test_small_classifier_gates_every_stage():
    torch.manual_seed(0)
    classifier = small_classifier(3, width=2).eval()
    images = torch.rand(2, 3, SIZE, SIZE)
    assert classifier.gate_names == ["stage1", "stage2", "stage3", "stage4"]
    assert classifier(images, torch.ones(2, 1, SIZE, SIZE)).shape == (2, 3)
    black = classifier(images, torch.zeros(2, 1, SIZE, SIZE))
    assert torch.allclose(black[0], black[1]), "a black heatmap must hide everything: same logits for every image"
    assert torch.allclose(black[0], classifier.backbone.head.bias)


@pytest.mark.parametrize("arguments", [{"num_classes": 1}, {"num_classes": 2, "width": 0}])
def test_small_classifier_rejects_bad_sizes(arguments):
    with pytest.raises(ValueError, match="num_classes >= 2 and width >= 1"):
        small_classifier(**arguments)


def test_steps_are_yielded_every_few_steps_and_at_the_end(example):
    image, mask, _ = example
    steps = list(optimise_heatmap(image, mask, 0, alpha=0.0, beta=0.9, gamma=1.0, steps=10, every=4))
    assert [s.step for s in steps] == [0, 4, 8, 10]
    assert torch.equal(steps[0].heatmap, torch.ones(1, 1, SIZE, SIZE))
    assert all(math.isnan(s.classification) and math.isnan(s.probability) for s in steps)


def test_reported_losses_without_a_classifier_match_a_loop(example):
    image, mask, _ = example
    for step in optimise_heatmap(image, mask, 0, alpha=0.0, beta=0.7, gamma=2.0, steps=6, every=3):
        expected = hybrid_by_hand(step.heatmap, mask, beta=0.7, gamma=2.0)
        assert step.total == pytest.approx(expected, rel=1e-5)
        assert step.explanation == pytest.approx(expected, rel=1e-5)


def test_reported_losses_with_a_classifier_are_the_phase2_objective(example):
    image, mask, model = example
    alpha, beta, gamma = 0.3, 0.8, 1.5
    for step in optimise_heatmap(image, mask, 1, alpha=alpha, beta=beta, gamma=gamma, model=model, steps=6, every=3):
        logits = model.classifier(((image - 0.5) / 0.5).unsqueeze(0), step.heatmap)
        cross_entropy = F.cross_entropy(logits, torch.tensor([1])).item()
        explanation = hybrid_by_hand(step.heatmap, mask, beta, gamma)
        assert step.classification == pytest.approx(cross_entropy, rel=1e-5)
        assert step.probability == pytest.approx(logits.softmax(1)[0, 1].item(), rel=1e-5)
        assert step.total == pytest.approx(alpha * cross_entropy + (1 - alpha) * explanation, rel=1e-5)


def test_sparsity_alone_turns_the_heatmap_black(example):
    image, mask, _ = example
    steps = list(optimise_heatmap(image, mask, 0, alpha=0.0, beta=1.0, gamma=0.0, steps=120, every=50, lr=0.01))
    assert [s.heatmap.unique().tolist() for s in steps[:2]] == [[1.0], [pytest.approx(0.5)]], "0.01 per step"
    assert steps[-1].heatmap.max() == 0.0


def test_contiguity_alone_leaves_a_uniform_heatmap_as_it_is(example):
    image, mask, _ = example
    *_, last = optimise_heatmap(image, mask, 0, alpha=0.0, beta=0.0, gamma=0.0, steps=20, every=20)
    assert torch.equal(last.heatmap, torch.ones_like(last.heatmap))


def test_the_weak_term_clears_the_outside_of_the_mask_first(example):
    image, mask, _ = example
    *_, last = optimise_heatmap(image, mask, 0, alpha=0.0, beta=0.5, gamma=3.0, steps=25, every=25)
    inside = (last.heatmap[0] * mask).sum() / mask.sum()
    outside = (last.heatmap[0] * (1 - mask)).sum() / (1 - mask).sum()
    assert inside > 0.5 > outside


def test_the_classification_term_alone_lowers_the_cross_entropy_and_the_classifier_stays_frozen(example):
    image, mask, model = example
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = list(optimise_heatmap(image, mask, 1, alpha=1.0, beta=0.9, gamma=1.0, model=model, steps=30, every=30))
    assert steps[-1].classification < steps[0].classification
    assert steps[-1].probability > steps[0].probability
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"alpha": 0.5}, "needs a classifier"),
        ({"beta": 1.5}, "beta must lie in"),
        ({"gamma": -1.0}, "gamma must be >= 0"),
        ({"steps": 0}, "steps and every"),
        ({"mask": torch.zeros(1, 8, 8)}, "mask must be 1 x H x W"),
        ({"image": torch.zeros(1, SIZE, SIZE)}, "image must be 3 x H x W"),
    ],
)
def test_bad_arguments_are_named(example, arguments, message):
    image, mask, _ = example
    values = {"image": image, "mask": mask, "alpha": 0.0, "beta": 0.9, "gamma": 1.0, **arguments}
    with pytest.raises(ValueError, match=message):
        next(optimise_heatmap(values.pop("image"), values.pop("mask"), 0, **values))


def test_an_image_size_the_classifier_cannot_take_is_named(example):
    _, _, model = example
    with pytest.raises(ValueError, match="divisible by 8"):
        next(optimise_heatmap(torch.zeros(3, 12, 12), torch.zeros(1, 12, 12), 0, alpha=0.5, beta=0.9, gamma=1.0,
                              model=model))


def test_frozen_classifier_is_trained_once_then_loaded(tiny_index, tmp_path, monkeypatch):
    config = classifier_config(image_size=32, epochs=1).replace(batch_size=8, device="cpu")
    cache = tmp_path / "classifier.pt"
    model, history = frozen_classifier(tiny_index, cache, config, n_train=12)
    assert cache.is_file() and list(history["epoch"]) == [1]
    assert not model.training and not any(p.requires_grad for p in model.parameters())

    def no_training(*args, **kwargs):
        raise AssertionError("a cached classifier must not be trained again")

    monkeypatch.setattr(playground, "train_phase", no_training)
    loaded, loaded_history = frozen_classifier(tiny_index, cache, config, n_train=12)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert loaded_history.equals(history)
    with pytest.raises(AssertionError, match="must not be trained again"):
        frozen_classifier(tiny_index, cache, config, n_train=10)


@pytest.fixture(scope="module")
def learned_classifier(tmp_path_factory):
    """The playground's classifier as notebook 03 trains it (`classifier_config()`, 600 training images of
    the tutorial's 64 px polygons), and the val split's first triangle."""
    from xmllib.data import IndexDataset, PolygonSpec, generate_polygons, read_index

    folder = tmp_path_factory.mktemp("playground")
    index = generate_polygons(folder / "polygons", PolygonSpec(n_train=600, n_val=300, n_test=2))
    model, history = frozen_classifier(index, folder / "classifier.pt", classifier_config().replace(device="cpu"))
    val = IndexDataset(read_index(index), "val", 64)
    sample = val[int((val.labels == val.classes.index("triangle")).nonzero()[0])]
    return model, history, sample


def test_the_playgrounds_classifier_has_learned_the_task(learned_classifier):
    from xmllib.evaluation.verdicts import kept_epoch

    model, history, _ = learned_classifier
    assert kept_epoch(history, 1)["val_accuracy"] >= 0.9
    with torch.no_grad():
        _, heatmap = model(torch.rand(2, 3, 64, 64))
    # white maps, where the free heatmap starts: tanh(3) = 0.995, less the spread of the head's conv
    assert heatmap.min() > 0.95, "it learned behind white maps"


def test_at_the_sliders_defaults_the_free_heatmap_puts_more_mass_inside_the_mask(learned_classifier):
    model, _, sample = learned_classifier
    *_, last = optimise_heatmap(sample["image"], sample["mask"], int(sample["label"]), alpha=0.25, beta=0.9,
                                gamma=1.0, model=model, steps=150, every=150)
    inside = (last.heatmap * sample["mask"]).sum()
    outside = (last.heatmap * (1 - sample["mask"])).sum()
    assert inside > outside
    assert last.probability > 0.5, "the classifier still finds the triangle behind the map"
