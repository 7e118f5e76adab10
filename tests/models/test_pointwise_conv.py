"""The ResNet shortcut's strided 1×1 convolution: the same function as ``nn.Conv2d`` with
stride, and no heap corruption in its backward pass on one thread (the oneDNN 3.12 bug)."""

from __future__ import annotations

import subprocess
import sys

import torch
from torch import nn

from emobench.models.pointwise_conv import StridedPointwiseConv


def test_it_is_the_strided_convolution_with_the_same_parameters():
    torch.manual_seed(0)
    ours = StridedPointwiseConv(4, 8, stride=2)
    theirs = nn.Conv2d(4, 8, 1, stride=2, bias=False)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 4, 9, 9).to(memory_format=torch.channels_last)
    assert list(ours.state_dict()) == ["weight"]
    torch.testing.assert_close(ours(x), theirs(x))
    assert ours(x).shape == (3, 8, 5, 5)


# One process per run: the bug kills the process (heap corruption), so it cannot be caught.
_BACKWARD_LOOP = """
import torch
from emobench.models.backbones import BasicBlock
torch.set_num_threads(1)
block = BasicBlock(4, 8, stride=2).to(memory_format=torch.channels_last)
for step in range(400):
    x = torch.randn(2 + step % 7, 4, 8, 8).to(memory_format=torch.channels_last)
    block(x.requires_grad_()).sum().backward()
print("done")
"""


def test_a_narrow_shortcut_trains_on_one_thread_without_corrupting_the_heap():
    """With ``nn.Conv2d(4, 8, 1, stride=2)`` in the shortcut this died within 400 steps on
    torch 2.13's oneDNN (AVX2 CPU): 'corrupted double-linked list'."""
    run = subprocess.run(
        [sys.executable, "-c", _BACKWARD_LOOP], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0 and "done" in run.stdout, run.stderr[-2000:]
