"""R(2+1)D-18 (Tran et al., "A Closer Look at Spatiotemporal Convolutions", CVPR 2018).

The layout of torchvision's ``r2plus1d_18`` (read, not copied; no torchvision here):

- **stem**: ``Conv3d(3 → 45, (1, 7, 7), stride (1, 2, 2))`` + BN + ReLU, then
  ``Conv3d(45 → 64, (3, 1, 1))`` + BN + ReLU (no max-pooling);
- **layers** ``[2, 2, 2, 2]`` of 3-D BasicBlocks, widths 64, 128, 256, 512, stride 2 in time and
  space at the first block of layers 2–4 (1×1×1 conv + BN on the skip path when the shape
  changes); every 3×3×3 convolution is factorised into a spatial ``(1, 3, 3)`` convolution to
  ``M`` mid-planes, BN, ReLU and a temporal ``(3, 1, 1)`` convolution, with
  ``M = ⌊3³ · N_in · N_out / (3² · N_in + 3 · N_out)⌋`` (about the parameters of the full 3-D
  convolution; computed once per block from its input and output widths and used by both of its
  convolutions, as in torchvision);
- global average pooling → ``(B, 8 · width)``.

``width`` scales every channel count (64 = the real network, 31.3 M parameters without the fc
layer; the stem's 45 mid-planes scale as ``45 · width / 64``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def midplanes(in_planes: int, out_planes: int) -> int:
    """Mid-planes of a (2+1)D factorisation with the parameters of a 3×3×3 convolution."""
    return (in_planes * out_planes * 27) // (in_planes * 9 + 3 * out_planes)


class Conv2Plus1d(nn.Sequential):
    """``(1, 3, 3)`` spatial conv → BN → ReLU → ``(3, 1, 1)`` temporal conv (no final BN)."""

    def __init__(self, in_planes: int, out_planes: int, mid: int, stride: int = 1):
        super().__init__(
            nn.Conv3d(
                in_planes, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False
            ),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(
                mid, out_planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False
            ),
        )


class BasicBlock3d(nn.Module):
    """Two (2+1)D convolutions with BN, a residual connection and ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        mid = midplanes(in_planes, planes)  # both convolutions use it (as torchvision does)
        self.conv1 = Conv2Plus1d(in_planes, planes, mid, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = Conv2Plus1d(planes, planes, mid)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity, inplace=True)


class R2Plus1d18(nn.Module):
    """R(2+1)D-18 trunk without the fc layer: ``(B, 3, T, H, W)`` → ``(B, 8 · width)``."""

    def __init__(self, width: int = 64):
        super().__init__()
        if width < 1:
            raise ValueError(f"R2Plus1d18 width must be positive, got {width}")
        stem_mid = max(1, round(45 * width / 64))
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(stem_mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(stem_mid, width, (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        layers, in_planes = [], width
        for i in range(4):
            planes = width * 2**i
            stride = 1 if i == 0 else 2
            layers.append(
                nn.Sequential(BasicBlock3d(in_planes, planes, stride), BasicBlock3d(planes, planes))
            )
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.out_features = in_planes
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(clip))
        return torch.flatten(F.adaptive_avg_pool3d(x, 1), 1)
