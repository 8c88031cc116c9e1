"""The loss playground: the phase-2 objective on one image, with a free heatmap.

In phase 2 the explainer learns, under L = alpha * CE(C(x, zhat), y) + (1 - alpha) * L_h,
to draw heatmaps zhat that a frozen classifier C can still classify from (method.md
sections 2 and 3). Here zhat is not drawn by an explainer but is a free tensor, one
value per pixel of one image, optimised directly under the same loss, so that the
effect of alpha, beta and gamma can be watched in a few seconds on a CPU.

The frozen classifier is a deliberately small gated CNN (`--classifier small`), built by
`model_from_config` like every model, trained in one short phase 1 and cached (`frozen_classifier`):
a ResNet-18 would take minutes on a CPU, this one takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from xmllib.assembly import loaders_from_config, model_from_config, place_model
from xmllib.checkpoints import (
    CheckpointMismatch,
    checkpoint_dict,
    load_matching,
    save_checkpoint,
)
from xmllib.config import Config, preset
from xmllib.data import class_names, read_index
from xmllib.losses import JointLoss, Objective, hybrid_explanation_loss, joint_loss
from xmllib.models import ExplainerClassifier
from xmllib.plots.drawing import PANEL_INCHES, show_heatmap, show_image
from xmllib.training import seed_everything, set_trainable, train_phase


class PlaygroundStep(NamedTuple):
    """The state of the optimisation after `step` steps (step 0: the starting heatmap).

    heatmap: 1 x 1 x H x W in [0, 1), detached. The losses are the terms of the
    objective at this heatmap; `classification` and `probability` (the classifier's
    softmax probability of the true label) are NaN without a classifier.
    """

    step: int
    heatmap: Tensor
    total: float
    classification: float
    explanation: float
    probability: float


def classifier_config(image_size: int = 64, epochs: int = 8) -> Config:
    """Phase 1 of the playground's classifier: the tutorial preset with `epochs` epochs at learning rate 3e-3,
    behind white maps (the paper's head at `init_bias` 3: 0.995), since the free heatmap starts white."""
    return preset("tutorial").replace(epochs=(epochs, 0, 0), min_steps=(0, 0, 0), lr_clf=(3e-3, 0.0, 0.0),
                                      patience=(epochs, 1, 1), image_size=image_size, aug_prob=0.0,
                                      head="tanh_relu", init_bias=3.0, classifier="small", explainer_width=4)


def frozen_classifier(
    index_csv: str | Path,
    cache_file: str | Path,
    config: Config | None = None,
    n_train: int = 600,
) -> tuple[ExplainerClassifier, pd.DataFrame]:
    """The playground's classifier: loaded from `cache_file`, or trained (phase 1) and saved there.

    Phase 1 (`xmllib.training.train_phase` with `config`, default `classifier_config()`)
    trains `small_classifier` behind a frozen explainer (white maps with the default
    config; the explainer's head and init_bias are the config's) on the first
    `n_train` train images of the index, validated on its val split. A cache written
    with another configuration or n_train is trained again. Returns the model, frozen,
    in eval mode and on the CPU, and the phase-1 history (docs/design.md columns).
    """
    config = config or classifier_config()
    index = read_index(index_csv)
    names = class_names(index)
    seed_everything(config.seed)
    model = model_from_config(config, len(names))
    try:
        state = load_matching(cache_file, config, n_train=n_train)
    except CheckpointMismatch:
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        history = pd.DataFrame(state["history"])
    else:
        loaders = loaders_from_config(index, config, n_train=n_train)
        history = train_phase(place_model(model, config), config, 1, loaders, class_names=names)
        save_checkpoint(cache_file, checkpoint_dict(config, names, model.cpu(), n_train=n_train,
                                                    history=history.to_dict("records")))
    set_trainable(model.cpu(), False)
    return model, history


def optimise_heatmap(
    image: Tensor,
    mask: Tensor,
    label: int,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    model: ExplainerClassifier | None = None,
    steps: int = 150,
    every: int = 25,
    lr: float = 0.01,
    start: float = 1.0,
) -> Iterator[PlaygroundStep]:
    """Optimise a free heatmap for one image under the phase-2 objective; yield it every `every` steps.

    image: 3 x H x W in [0, 1]; mask: 1 x H x W in {0, 1}; label: the image's class.
    The objective is `joint_loss` under `Objective(alpha, beta, gamma)` (the hybrid loss) with the frozen `model`'s
    classifier, or the hybrid explanation loss alone when there is no model (then
    alpha must be 0). Every pixel starts at `start` (1: white, as a new explainer's
    maps) and moves by projected gradient descent: z <- clip(z - lr * H * W * dL/dz, 0, 1).
    The losses are means over the pixels, so the H * W makes `lr` the step of a pixel
    under a term of weight 1: a pixel moves as fast as the weights of the terms
    pulling on it say, which is what the sliders are for. (Unlike a real explainer's
    relu(tanh(.)) head, a pixel at 0 can come back when the classifier needs it.)
    Yields step 0, then every `every` steps, and the last step.
    """
    _check_playground_arguments(image, mask, alpha, beta, gamma, model, steps, every)
    heatmap = torch.full((1, 1, *image.shape[-2:]), float(start)).clamp(0, 1).requires_grad_()
    images, masks, labels = image.unsqueeze(0), mask.unsqueeze(0), torch.tensor([label])
    pixel_step = lr * heatmap.numel()
    for step in range(steps + 1):
        loss, probability = _objective(heatmap, images, masks, labels, alpha, beta, gamma, model)
        if step % every == 0 or step == steps:
            yield PlaygroundStep(step, heatmap.detach().clone(), loss.total.item(), loss.classification.item(),
                                 loss.explanation.item(), probability)
        if step < steps:
            (gradient,) = torch.autograd.grad(loss.total, heatmap)
            with torch.no_grad():
                heatmap.sub_(pixel_step * gradient).clamp_(0, 1)


def _objective(heatmap: Tensor, images: Tensor, masks: Tensor, labels: Tensor, alpha: float, beta: float,
               gamma: float, model: ExplainerClassifier | None) -> tuple[JointLoss, float]:
    """The phase-2 loss of one heatmap, and the classifier's probability of the true label (NaN without one).

    The classifier sees the image as `ExplainerClassifier.forward` gates it (`classify`), with
    the free heatmap in place of the explainer's.
    """
    if model is None:
        explanation = hybrid_explanation_loss(heatmap, masks, beta, gamma)
        return JointLoss(explanation, torch.tensor(float("nan")), explanation), float("nan")
    logits = model.classify(images, heatmap)
    loss = joint_loss(logits, labels, heatmap, Objective(alpha, beta, gamma), mask=masks)
    return loss, logits.softmax(1)[0, labels[0]].item()


def _check_playground_arguments(image: Tensor, mask: Tensor, alpha: float, beta: float, gamma: float,
                                model: ExplainerClassifier | None, steps: int, every: int) -> None:
    """Raise a ValueError naming the first argument `optimise_heatmap` cannot use."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be 3 x H x W (one RGB image), got shape {tuple(image.shape)}")
    if mask.shape != (1, *image.shape[-2:]):
        raise ValueError(f"mask must be 1 x H x W like the image, {(1, *image.shape[-2:])}, got {tuple(mask.shape)}")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if alpha > 0 and model is None:
        raise ValueError(f"alpha = {alpha} weighs a classification term, which needs a classifier: "
                         "pass model=..., or set alpha to 0")
    if steps < 1 or every < 1:
        raise ValueError(f"steps and every must be >= 1, got steps={steps} and every={every}")
    if model is not None:
        model.check_input_size(*image.shape[-2:])


def weights_title(alpha: float, beta: float, gamma: float) -> str:
    """The loss weights as a figure title."""
    return f"α = {alpha:g}, β = {beta:g}, γ = {gamma:g}"


def playground_grid(image: Tensor, mask: Tensor, label: int, model: ExplainerClassifier | None,
                    settings: Sequence[tuple[float, float, float]], steps: int = 150) -> Figure:
    """The heatmap `optimise_heatmap` reaches after `steps` steps for each (alpha, beta, gamma) of `settings`."""
    if not settings:
        raise ValueError("settings is empty: give at least one (alpha, beta, gamma)")
    fig = Figure(figsize=(1.9 * (len(settings) + 1), PANEL_INCHES + 0.8), layout="constrained")
    axes = fig.subplots(1, len(settings) + 1)
    show_image(axes[0], image, mask, "image and mask")
    for ax, (alpha, beta, gamma) in zip(axes[1:], settings):
        *_, last = optimise_heatmap(image, mask, label, alpha=alpha, beta=beta, gamma=gamma, model=model,
                                    steps=steps, every=steps)
        show_heatmap(ax, last.heatmap, mask, weights_title(alpha, beta, gamma))
    return fig
