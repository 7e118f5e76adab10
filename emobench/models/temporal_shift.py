"""TSM's temporal shift (Lin, Gan & Han, "TSM: Temporal Shift Module for Efficient Video
Understanding", ICCV 2019), in plain torch.

A 2-D network sees the frames of a clip as a batch of ``N · n_segment`` images laid out clip by
clip (sample-major: the frames of one clip are consecutive rows). :func:`temporal_shift`
exchanges information between neighbouring frames at no FLOP cost: of the ``C`` channels,
the first ``C // shift_div`` are taken from the *next* frame (shifted back in time), the next
``C // shift_div`` from the *previous* frame (shifted forward), the rest stay; a frame without a
neighbour gets zeros. This is the "shift left / shift right" of the TSM code and of MMAction2's
``resnet_tsm.py``.

The shift is *residual* (TSM's ``blockres`` placement, the default of both codes):
:class:`TemporalShift` wraps the first convolution inside each residual block's branch, so the
identity path (and the downsample path) carries the unshifted features and the block keeps its
spatial behaviour. :func:`add_temporal_shift` does this for every block of a
:class:`~emobench.models.backbones.ResNet18` (BasicBlock) or a
:class:`~emobench.models.bottleneck_resnet.ResNet50` (Bottleneck).
"""

from __future__ import annotations

import torch
from torch import nn

from emobench.models.backbones import BasicBlock
from emobench.models.bottleneck_resnet import Bottleneck


def temporal_shift(x: torch.Tensor, n_segment: int, shift_div: int = 8) -> torch.Tensor:
    """``(N · n_segment, C, H, W)`` features with ``C // shift_div`` channels shifted back one
    frame and the next ``C // shift_div`` shifted forward one frame, zero-filled at the clip's
    ends; a new tensor (the input is left as it is)."""
    if n_segment < 1:
        raise ValueError(f"temporal shift needs at least one segment, got {n_segment}")
    if shift_div < 2:
        raise ValueError(f"shift_div must be at least 2 (two folds are shifted), got {shift_div}")
    nt, c = x.shape[:2]
    if nt % n_segment:
        raise ValueError(
            f"temporal shift over {n_segment} segments got {nt} frames, not a multiple"
        )
    clips = x.reshape(nt // n_segment, n_segment, c, *x.shape[2:])
    fold = c // shift_div
    out = torch.zeros_like(clips)
    out[:, :-1, :fold] = clips[:, 1:, :fold]  # frame t reads frame t + 1
    out[:, 1:, fold : 2 * fold] = clips[:, :-1, fold : 2 * fold]  # frame t reads frame t - 1
    out[:, :, 2 * fold :] = clips[:, :, 2 * fold :]
    return out.reshape(x.shape)


class TemporalShift(nn.Module):
    """A module (usually a convolution) applied after :func:`temporal_shift` of its input."""

    def __init__(self, net: nn.Module, n_segment: int, shift_div: int = 8):
        super().__init__()
        if n_segment < 1:
            raise ValueError(f"temporal shift needs at least one segment, got {n_segment}")
        if shift_div < 2:
            raise ValueError(f"shift_div must be at least 2, got {shift_div}")
        self.net = net
        self.n_segment = n_segment
        self.shift_div = shift_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(temporal_shift(x, self.n_segment, self.shift_div))

    def extra_repr(self) -> str:
        return f"n_segment={self.n_segment}, shift_div={self.shift_div}"


def add_temporal_shift(resnet: nn.Module, n_segment: int, shift_div: int = 8) -> int:
    """Wrap ``conv1`` of every residual block of ``resnet`` in a :class:`TemporalShift` (in
    place; a block already shifted is left alone). Returns the number of blocks wrapped; a
    network without BasicBlock or Bottleneck blocks is a ``ValueError``."""
    blocks = [m for m in resnet.modules() if isinstance(m, BasicBlock | Bottleneck)]
    if not blocks:
        raise ValueError(f"{type(resnet).__name__} has no residual blocks to shift")
    wrapped = 0
    for block in blocks:
        if not isinstance(block.conv1, TemporalShift):
            block.conv1 = TemporalShift(block.conv1, n_segment, shift_div)
            wrapped += 1
    return wrapped
