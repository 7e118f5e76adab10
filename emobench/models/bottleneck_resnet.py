"""ResNet-50 in plain torch (no torchvision, no downloads): the torchvision layout with a
``width`` knob, for TSN/TSM's ``paper`` configuration.

Bottleneck blocks (1×1 reduce, 3×3, 1×1 expand ×4; the stride on the 3×3 convolution as in
torchvision's "v1.5"), stages of [3, 4, 6, 3] blocks. ``width=64`` is the torchvision network
(23,508,032 parameters without fc). The interface is that of
:class:`emobench.models.backbones.ResNet18`: ``feature_maps`` returns the maps of ``layer3`` and
``layer4``, ``forward`` their global average, ``out_features`` its size (``32 · width``).
Randomly initialised like torchvision (Kaiming normal convolutions, BatchNorm weight 1, bias 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emobench.models.backbones import ResNetTrunk
from emobench.models.pointwise_conv import StridedPointwiseConv

EXPANSION = 4
LAYERS = (3, 4, 6, 3)


class Bottleneck(nn.Module):
    """1×1 → 3×3 (stride) → 1×1 convolutions, ``channels · 4`` outputs, residual connection."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        out_channels = channels * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                StridedPointwiseConv(in_channels, out_channels, stride),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity, inplace=True)


class ResNet50(ResNetTrunk):
    """ResNet-50 trunk without the fc layer: ``(N, C, H, W)`` → ``(N, 32 · width)``.

    ``input_size``, ``channels_last`` and ``in_channels`` as in
    :class:`~emobench.models.backbones.ResNet18`.
    """

    def __init__(
        self,
        width: int = 64,
        input_size: int | None = None,
        channels_last: bool = False,
        in_channels: int = 3,
    ):
        super().__init__(bottleneck_stages, width, input_size, channels_last, in_channels)


def bottleneck_stages(width: int) -> tuple[list[nn.Module], int]:
    """ResNet-50's four stages of [3, 4, 6, 3] Bottlenecks, and its 32 · width channels."""
    stages: list[nn.Module] = []
    channels_in = width
    for i, blocks in enumerate(LAYERS):
        channels = width * 2**i
        stride = 1 if i == 0 else 2
        stage = [Bottleneck(channels_in, channels, stride)]
        channels_in = channels * EXPANSION
        stage += [Bottleneck(channels_in, channels) for _ in range(blocks - 1)]
        stages.append(nn.Sequential(*stage))
    return stages, width * 8 * EXPANSION
