"""The Explainer: a small U-Net that turns an image into a heatmap in [0, 1).

method.md section 1. The heatmap is 1 where the classifier should look. Every
activation is its own, non-in-place module so that captum's backward hooks
(Guided Backprop, Deconvolution, DeepLift, LRP) can run through the network.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


def check_divisible_size(height: int, width: int, divisor: int, needed_by: str) -> None:
    """Raise a ValueError unless height and width are multiples of `divisor`.

    The message names the size, who needs the divisor and the nearest valid sizes.
    """
    if height % divisor == 0 and width % divisor == 0:
        return
    raise ValueError(
        f"image size {height} x {width} (height x width) is not supported: height and width "
        f"must be divisible by {divisor} for {needed_by}; nearest valid sizes: "
        f"height {_nearest_multiples(height, divisor)}, width {_nearest_multiples(width, divisor)}"
    )


def _nearest_multiples(size: int, divisor: int) -> str:
    """The multiples of `divisor` just below and just above `size` (never 0), as text."""
    below = (size // divisor) * divisor
    above = math.ceil(size / divisor) * divisor
    if below == above:
        return str(size)
    if below == 0:
        return str(above)
    return f"{below} or {above}"


class ConvBlock(nn.Sequential):
    """conv3x3 (padding 1) -> ReLU -> conv3x3 -> ReLU, keeping the spatial size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
            nn.ReLU(),
        )


#: "tanh_relu": the paper's conv1x1 -> BatchNorm2d(1) -> tanh -> ReLU.
#: "sigmoid" (ours): conv1x1 -> sigmoid, no BatchNorm.
#: "clamp" (ours): conv1x1 -> clamp to [0, 1], no BatchNorm: slope 1 everywhere inside, so a dim pixel
#: gets the same gradient as a bright one (a sigmoid near 0 passes 1% of it).
HEADS = ("tanh_relu", "sigmoid", "clamp")
#: per head, the pre-activations (the input of `squash`) where the head's slope is above 1e-2:
#: outside them a pixel gets almost no gradient (tanh' = 1 - tanh^2, sigmoid' = s (1 - s); ReLU' = 0 below 0)
ACTIVE_RANGES = {"tanh_relu": (0.0, 2.9), "sigmoid": (-4.5, 4.5), "clamp": (0.0, 1.0)}


class Explainer(nn.Module):
    """U-Net with additive skips mapping B x 3 x H x W images to B x 1 x H x W heatmaps in [0, 1).

    Encoder: ConvBlock(3->w), maxpool; ConvBlock(w->2w), maxpool; ConvBlock(2w->4w), maxpool.
    Decoder: up-convolution (kernel 2, stride 2), add the encoder's feature map of
    that size, ConvBlock; three times. Head (`head`, see HEADS): the paper's conv1x1 ->
    BatchNorm2d(1) -> tanh -> ReLU, or ours, conv1x1 -> sigmoid or conv1x1 -> clamp to [0, 1].

    `init_bias` initialises the head's bias (the BatchNorm's, or the conv's for the
    sigmoid head), so that a new explainer outputs heatmaps of about tanh(init_bias)
    (0.995 for the default 3.0; sigmoid(init_bias) = 0.95 with our head): white maps,
    the classifier first sees the whole image. (The original code had four different
    defaults, 10, 3, 2 and 1; the paper's is 3.) H and W must be divisible by 8.

    Why our head: the paper's BatchNorm sets the map's level from batch statistics in
    train mode and from running statistics in eval mode, so the map's level jumps when
    a phase unfreezes the explainer, and its ReLU passes no gradient to the pixels it
    has switched off (docs/recipe.md measures both). A sigmoid has neither problem.
    """

    size_divisor = 8

    def __init__(self, width: int = 32, init_bias: float = 3.0, head: str = "tanh_relu") -> None:
        if head not in HEADS:
            raise ValueError(f"unknown explainer head {head!r}: choose one of {list(HEADS)}")
        super().__init__()
        self.enc1 = ConvBlock(3, width)
        self.pool1 = nn.MaxPool2d(2)
        self.enc2 = ConvBlock(width, 2 * width)
        self.pool2 = nn.MaxPool2d(2)
        self.enc3 = ConvBlock(2 * width, 4 * width)
        self.pool3 = nn.MaxPool2d(2)
        self.up3 = nn.ConvTranspose2d(4 * width, 4 * width, kernel_size=2, stride=2)
        self.dec3 = ConvBlock(4 * width, 4 * width)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, kernel_size=2, stride=2)
        self.dec2 = ConvBlock(2 * width, 2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, kernel_size=2, stride=2)
        self.dec1 = ConvBlock(width, width)
        self.head, self.init_bias = head, init_bias
        self.to_heatmap = nn.Conv2d(width, 1, kernel_size=1)
        if head == "tanh_relu":
            self.norm, self.squash, self.clip = nn.BatchNorm2d(1), nn.Tanh(), nn.ReLU()
            biased = self.norm
        else:
            squash = nn.Sigmoid() if head == "sigmoid" else nn.Hardtanh(0.0, 1.0)
            self.norm, self.squash, self.clip = nn.Identity(), squash, nn.Identity()
            biased = self.to_heatmap
        with torch.no_grad():
            biased.bias.fill_(init_bias)

    def forward(self, x: Tensor) -> Tensor:
        """Heatmap B x 1 x H x W in [0, 1) of a normalised image batch B x 3 x H x W."""
        check_divisible_size(x.shape[-2], x.shape[-1], self.size_divisor, "the explainer")
        skip1 = self.enc1(x)
        skip2 = self.enc2(self.pool1(skip1))
        skip3 = self.enc3(self.pool2(skip2))
        y = self.dec3(self.up3(self.pool3(skip3)) + skip3)
        y = self.dec2(self.up2(y) + skip2)
        y = self.dec1(self.up1(y) + skip1)
        return self.clip(self.squash(self.norm(self.to_heatmap(y))))

    def initial_level(self) -> float:
        """The level of a new explainer's maps: its head applied to `init_bias`."""
        return float(self.clip(self.squash(torch.tensor(self.init_bias))))

    @property
    def active_range(self) -> tuple[float, float]:
        """The pre-activations (low, high) between which this explainer's head still passes a gradient."""
        return ACTIVE_RANGES[self.head]

    @contextmanager
    def capture_preactivation(self) -> Iterator[list[Tensor]]:
        """Within the block, the list collects the head's pre-activation (the input of `squash`) of each forward.

        The tensors keep their graph, so a loss on them trains the explainer.
        """
        captured: list[Tensor] = []
        hook = self.squash.register_forward_hook(lambda module, args, output: captured.append(args[0]))
        try:
            yield captured
        finally:
            hook.remove()
