"""The strided 1×1 convolution of a ResNet shortcut, computed as a subsampling followed by an
unstrided 1×1 convolution.

The two are the same function with the same parameters (a 1×1 kernel with stride ``s`` and no
padding reads exactly the pixels ``[::s, ::s]``), and the module is an ``nn.Conv2d``, so
weights, ``state_dict`` keys and initialisation are unchanged. The reason is a bug: with the
CPU build of torch 2.13 (oneDNN 3.12, AVX2), the backward pass of a strided 1×1 convolution
with 4 or fewer input channels on a channels-last tensor, run on one thread, corrupts the
heap — the process dies with "corrupted double-linked list" or a segmentation fault a few
hundred steps later (measured 2026-12-02 on an AMD EPYC; see CHANGELOG). Miniature configs
(``width`` 4) and one-thread jobs (``--jobs``, pytest-xdist) hit exactly that case.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class StridedPointwiseConv(nn.Conv2d):
    """``nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=bias)``, computed as
    ``conv1x1(x[..., ::stride, ::stride])``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, bias: bool = False):
        super().__init__(in_channels, out_channels, 1, stride=stride, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride[0]
        if s != 1:
            x = x[..., ::s, ::s]
        return F.conv2d(x, self.weight, self.bias)
