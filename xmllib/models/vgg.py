"""The original small VGG-like classifier, with a gate after each of its 4 stages.

method.md section 1.
"""

from collections import OrderedDict

from torch import Tensor, nn

from xmllib.models.explainer import ConvBlock
from xmllib.models.gates import GatedClassifier

VGG_GATE_NAMES = ["stage1", "stage2", "stage3", "stage4"]
SIZE_DIVISOR = 16


class SmallVGG(nn.Module):
    """4 stages ConvBlock(w), ConvBlock(2w), ConvBlock(4w), ConvBlock(8w), each followed by maxpool 2,
    then global max pool, FC 8w->128, sigmoid, dropout 0.3, FC 128->128, sigmoid, dropout 0.3,
    FC 128->num_classes.

    The gates go on the stages' outputs, before their maxpool (`vgg_classifier`).
    Deviations from the original: the global pool is adaptive (the original's was
    hard-coded to 224 px inputs), and the weights are initialised with Kaiming
    (convolutions, for the ReLUs) and Xavier (fully connected layers, for the
    sigmoids) with zero biases: with PyTorch's default initialisation the network
    does not train at all.
    """

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.stage1 = ConvBlock(3, width)
        self.pool1 = nn.MaxPool2d(2)
        self.stage2 = ConvBlock(width, 2 * width)
        self.pool2 = nn.MaxPool2d(2)
        self.stage3 = ConvBlock(2 * width, 4 * width)
        self.pool3 = nn.MaxPool2d(2)
        self.stage4 = ConvBlock(4 * width, 8 * width)
        self.pool4 = nn.MaxPool2d(2)
        self.global_pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(8 * width, 128),
            nn.Sigmoid(),
            nn.Dropout(0.3),
            nn.Linear(128, 128),
            nn.Sigmoid(),
            nn.Dropout(0.3),
            nn.Linear(128, num_classes),
        )
        self._initialise()

    def forward(self, x: Tensor) -> Tensor:
        """Logits B x num_classes of a normalised image batch B x 3 x H x W."""
        x = self.pool1(self.stage1(x))
        x = self.pool2(self.stage2(x))
        x = self.pool3(self.stage3(x))
        x = self.pool4(self.stage4(x))
        return self.head(self.global_pool(x))

    def _initialise(self) -> None:
        """Kaiming-normal convolutions, Xavier-uniform linear layers, zero biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)


def vgg_classifier(num_classes: int, width: int = 32) -> GatedClassifier:
    """The small VGG with a gate after each of its 4 stages; H and W must be divisible by 16."""
    return GatedClassifier(SmallVGG(num_classes, width), VGG_GATE_NAMES, size_divisor=SIZE_DIVISOR)


def small_classifier(num_classes: int, width: int = 8) -> GatedClassifier:
    """A smaller CNN than `SmallVGG`, with its gate names: it trains in seconds on a CPU, and has BatchNorm.

    The `tutorial` preset's classifier (its global max pooling asks "is the target anywhere?",
    which is the polygons' question), the loss playground's frozen classifier and the
    freezing exercise's model (which needs BatchNorm layers to show what a frozen module in
    train mode does).

    Stage k: conv3x3 -> BatchNorm -> ReLU with width * 2**(k-1) channels (stages
    1-3 are followed by max pooling 2), then global max pooling and a linear head.
    H and W must be divisible by 8.
    """
    if num_classes < 2 or width < 1:
        raise ValueError(f"need num_classes >= 2 and width >= 1, got {num_classes} and {width}")
    channels = [3] + [width * 2**k for k in range(4)]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for k, name in enumerate(VGG_GATE_NAMES):
        layers[name] = nn.Sequential(
            nn.Conv2d(channels[k], channels[k + 1], kernel_size=3, padding=1),
            nn.BatchNorm2d(channels[k + 1]),
            nn.ReLU(),
        )
        if k < 3:
            layers[f"pool{k + 1}"] = nn.MaxPool2d(2)
    layers["global_pool"] = nn.AdaptiveMaxPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(channels[-1], num_classes)
    return GatedClassifier(nn.Sequential(layers), VGG_GATE_NAMES, size_divisor=8)
