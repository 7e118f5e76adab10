"""Plain-torch building blocks shared by the model families (no torchvision, no downloads).

- :func:`resize_frames` — square resizing of frames inside a model.
- :class:`ResNetTrunk` — stem, initialisation, resizing and feature maps every ResNet shares.
- :class:`ResNet18` — the torchvision ResNet-18 layout (BasicBlock, layers [2, 2, 2, 2]) with a
  ``width`` knob (64 = the real network) and an ``input_size`` knob (frames are resized inside
  the encoder); randomly initialised like torchvision.
- :class:`FrameEncoder` — runs a :class:`ResNet18` over every frame of a ``(B, T, 3, H, W)`` clip.
- :class:`SequenceEncoder` — a multi-layer LSTM over a ``(B, S, F)`` sequence.
- :class:`GradientReversal` — identity forward, ``-λ · grad`` backward (Ganin & Lempitsky, 2015).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from emobench.models.pointwise_conv import StridedPointwiseConv


def resize_frames(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """``(N, C, H, W)`` images resized to ``size × size`` (``None`` or already that size: as is).

    Exact 2×2 box averages while the side halves evenly (much faster than ``F.interpolate`` on
    CPU), then bilinear interpolation of whatever is left, antialiased when shrinking.
    """
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    while x.shape[-1] == x.shape[-2] and x.shape[-1] % 2 == 0 and x.shape[-1] >= 2 * size:
        x = (x[..., ::2, ::2] + x[..., 1::2, ::2] + x[..., ::2, 1::2] + x[..., 1::2, 1::2]) / 4
    if tuple(x.shape[-2:]) == (size, size):
        return x
    shrink = size < min(x.shape[-2:])
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=shrink)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual connection (ResNet-18/34 block)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                StridedPointwiseConv(in_channels, channels, stride),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity, inplace=True)


class ResNetTrunk(nn.Module):
    """What the ResNet trunks here share (:class:`ResNet18`, and ResNet-50 in
    :mod:`emobench.models.bottleneck_resnet`): the 7×7 stem, the four stages
    ``make_stages(width)`` builds (with the channels of the last), torchvision's initialisation
    (Kaiming normal convolutions, BatchNorm weight 1, bias 0), resizing inside the trunk, and
    the maps of the last two stages.

    ``input_size``: when set and different from the incoming side, frames are resized to
    ``input_size × input_size`` first (2×2 box averages while the side halves evenly, then
    bilinear interpolation, antialiased when shrinking).
    ``channels_last``: run the convolutions in NHWC memory format (faster on oneDNN CPUs).
    ``in_channels``: channels of the input images (3 = RGB; 1 = a thermal matrix), read by the
    first convolution only.
    """

    def __init__(
        self,
        make_stages: Callable[[int], tuple[list[nn.Module], int]],
        width: int = 64,
        input_size: int | None = None,
        channels_last: bool = False,
        in_channels: int = 3,
    ):
        super().__init__()
        name = type(self).__name__
        if width < 1:
            raise ValueError(f"{name} width must be positive, got {width}")
        if in_channels < 1:
            raise ValueError(f"{name} in_channels must be positive, got {in_channels}")
        self.width = width
        self.input_size = input_size
        self.channels_last = channels_last
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, self.out_features = make_stages(width)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        return resize_frames(x, self.input_size)

    def feature_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The maps of the last two stages, ``layer3`` and ``layer4``."""
        x = self.resize(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        low = self.layer3(self.layer2(self.layer1(x)))
        return low, self.layer4(low)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.feature_maps(x)[1], 1), 1)


class ResNet18(ResNetTrunk):
    """ResNet-18 trunk without the fc layer: ``(N, C, H, W)`` → ``(N, 8 · width)``; its
    ``feature_maps`` have 4·width and 8·width channels.

    ``width=64`` is the torchvision network (11,176,512 parameters without fc); the other
    arguments are :class:`ResNetTrunk`'s.
    """

    def __init__(
        self,
        width: int = 64,
        input_size: int | None = None,
        channels_last: bool = False,
        in_channels: int = 3,
    ):
        super().__init__(basic_stages, width, input_size, channels_last, in_channels)


def basic_stages(width: int) -> tuple[list[nn.Module], int]:
    """ResNet-18's four stages of two BasicBlocks, and its 8 · width output channels."""
    stages: list[nn.Module] = []
    in_channels = width
    for i in range(4):
        channels = width * 2**i
        stride = 1 if i == 0 else 2
        stages.append(
            nn.Sequential(BasicBlock(in_channels, channels, stride), BasicBlock(channels, channels))
        )
        in_channels = channels
    return stages, 8 * width


class FrameEncoder(nn.Module):
    """A :class:`ResNet18` applied to each frame: ``(B, T, 3, H, W)`` → ``(B, T, 8 · width)``."""

    def __init__(self, width: int = 64, input_size: int | None = None, channels_last: bool = True):
        super().__init__()
        self.cnn = ResNet18(width, input_size, channels_last)
        self.out_features = self.cnn.out_features

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        features = self.cnn(frames.reshape(b * t, *frames.shape[2:]))
        return features.reshape(b, t, -1)


class SequenceEncoder(nn.Module):
    """A ``layers``-deep LSTM (no inter-layer dropout, as in the EMER code).

    ``forward`` returns the top layer's output at every step, ``(B, S, hidden)``.
    """

    def __init__(self, in_features: int, hidden: int, layers: int):
        super().__init__()
        if in_features < 1:
            raise ValueError(f"SequenceEncoder needs at least one input feature, got {in_features}")
        self.lstm = nn.LSTM(in_features, hidden, layers, batch_first=True)
        self.out_features = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.neg() * ctx.lambda_, None


def grad_reverse(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the incoming gradient by ``-lambda_``."""
    return _ReverseGrad.apply(x, lambda_)


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse`."""

    def __init__(self, lambda_: float = 1.0):
        super().__init__()
        self.lambda_ = lambda_

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambda_)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_}"
