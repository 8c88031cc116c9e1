"""Throughput of AOPC: xmllib's batched MoRF curves against the limit, a naive loop and Quantus.

A MoRF curve of N images and L steps costs N x (L + 1) forward passes of the joint
model, so the limit is the model's plain batched forward throughput. For each image
size this prints images per second through the model (perturbed and unperturbed) of:

- xmllib: `morf_curve` (ranking, perturbing and bookkeeping included);
- limit: the plain batched forward pass of as many images, `--batch-size` at a time;
- naive loop: one forward pass per step per image (on `--naive-images` images);
- Quantus: `RegionPerturbation` with a fixed black baseline, as in tests/test_aopc.py;

and each one's ratio to the limit. The model is a randomly initialised ResNet-18
joint model (explainer width 32, as in the paper); the patch size is the paper's
8 px scaled to the image size (2 px at 64, 8 px at 224); the perturbation is black.

    python benchmarks/aopc.py                      # CPU: 4 images at 64 px, 1 at 224 px
    python benchmarks/aopc.py --device cuda --images 64 --batch-size 128
"""

import argparse
import time
from collections.abc import Callable

import numpy as np
import quantus
import torch

from xmllib.evaluation.aopc import morf_curve
from xmllib.evaluation.forward import class_probabilities
from xmllib.evaluation.patches import default_patch_sizes, patch_order
from xmllib.evaluation.posthoc import LogitsOf
from xmllib.models import build_model

DEFAULT_IMAGES = {64: 4, 224: 1}


def seconds(run: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of `run()`, waiting for the device to finish."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


@torch.no_grad()
def plain_forward(model: torch.nn.Module, batch: torch.Tensor, n_images: int) -> None:
    """Forward `n_images` images through the model, `len(batch)` at a time (the last batch cut short)."""
    for start in range(0, n_images, len(batch)):
        model(batch[: n_images - start])


@torch.no_grad()
def naive_morf_curve(model: torch.nn.Module, image: torch.Tensor, heatmap: torch.Tensor, patch_size: int,
                     steps: int) -> list[float]:
    """One image's MoRF curve (black) with one forward pass per step."""
    columns = image.shape[-1] // patch_size
    order = patch_order(heatmap[None], patch_size)[0].tolist()
    x = image[None].clone()
    probabilities = model(x)[0].softmax(dim=1)[0]
    target = int(probabilities.argmax())
    curve = [float(probabilities[target])]
    for patch in order[:steps]:
        row, column = divmod(patch, columns)
        x[..., row * patch_size:(row + 1) * patch_size, column * patch_size:(column + 1) * patch_size] = 0
        curve.append(float(model(x)[0].softmax(dim=1)[0, target]))
    return curve


def quantus_curves(model: torch.nn.Module, images: torch.Tensor, heatmaps: torch.Tensor, patch_size: int,
                   steps: int, batch_size: int) -> list:
    """Quantus' RegionPerturbation drops, configured as method.md section 4 says."""
    device = images.device
    predicted = class_probabilities(model, images, batch_size).argmax(dim=1).cpu().numpy()
    metric = quantus.RegionPerturbation(patch_size=patch_size, regions_evaluation=steps, normalise=False,
                                        abs=False, perturb_baseline=0.0, disable_warnings=True)
    return metric(model=LogitsOf(model).eval(), x_batch=images.cpu().numpy(), y_batch=predicted,
                  a_batch=heatmaps.cpu().numpy(), channel_first=True, softmax=True, device=str(device),
                  batch_size=batch_size)


def benchmark(size: int, n_images: int, naive_images: int, steps: int, batch_size: int,
              device: torch.device) -> dict[str, float]:
    """Images per second of xmllib, the limit, the naive loop and Quantus at one image size."""
    torch.manual_seed(0)
    model = build_model("resnet18", 2).to(device).eval()
    images = torch.rand(n_images, 3, size, size, device=device)
    heatmaps = torch.rand(n_images, 1, size, size, device=device)
    patch_size = default_patch_sizes(size, size)[1]
    batch = torch.rand(batch_size, 3, size, size, device=device)
    total = n_images * (steps + 1)
    contenders = {
        "xmllib morf_curve": lambda n, n_steps: morf_curve(model, images[:n], heatmaps[:n], patch_size, "black",
                                                           n_steps, batch_size=batch_size),
        "limit: plain forward": lambda n, n_steps: plain_forward(model, batch, n * (n_steps + 1)),
        "naive loop": lambda n, n_steps: [naive_morf_curve(model, images[i], heatmaps[i], patch_size, n_steps)
                                          for i in range(min(n, naive_images))],
        "Quantus RegionPerturbation": lambda n, n_steps: quantus_curves(model, images[:n], heatmaps[:n], patch_size,
                                                                        n_steps, batch_size),
    }
    times = {}
    for name, run in contenders.items():
        run(2, 3)  # warm-up: first calls of kernels and shapes
        times[name] = seconds(lambda run=run: run(n_images, steps), device)
    counts = {name: total for name in times} | {"naive loop": naive_images * (steps + 1)}
    print(f"\n{size} x {size} px, patch {patch_size} px, {steps} steps, {n_images} images "
          f"({total} forward-passed images), batch size {batch_size}, {device}")
    rates = {name: counts[name] / times[name] for name in times}
    limit = rates["limit: plain forward"]
    for name, rate in rates.items():
        print(f"  {name:28s} {rate:10.1f} images/s   {rate / limit:6.2f} x limit")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_IMAGES))
    parser.add_argument("--images", type=int, default=None,
                        help=f"images per size (default: {DEFAULT_IMAGES}, other sizes 4)")
    parser.add_argument("--naive-images", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    device = torch.device(args.device)
    np.random.seed(0)
    for size in args.sizes:
        n_images = args.images or DEFAULT_IMAGES.get(size, 4)
        benchmark(size, n_images, min(args.naive_images, n_images), args.steps, args.batch_size, device)


if __name__ == "__main__":
    main()
