"""A multiscale video transformer (MViTv2, Li et al. CVPR 2022) in plain torch.

Built the way torchvision's ``mvit_v2_s`` is (read, not copied; no torchvision here), with a
``depths``/``heads`` knob so that IFDD's cut-down "MFViT_XS" (10 blocks) is one setting:

- **embedding**: ``Conv3d(3 → C0, k=(3, 7, 7), stride=(2, 4, 4), pad=(1, 3, 3))`` and a CLS
  token (no absolute position embedding: positions enter through the relative ones);
- **stages**: stage ``s`` has ``C0 · 2^s`` channels and ``heads[s]`` heads; its first block (for
  ``s > 0``) pools the *query* with stride (1, 2, 2) and raises the channels *inside* the
  attention (``dim_mul_in_att``: ``qkv`` maps C_in → 3 · C_out, the skip path is projected by
  a ``Linear`` of the first LayerNorm's output and max-pooled with kernel (1, 3, 3));
- **pooling attention**: q, k and v are pooled per head by a depthwise ``Conv3d`` (kernel 3,
  shared by the heads) + LayerNorm; keys/values with the *adaptive* stride
  ``(1, kv_stride / 2^s, kv_stride / 2^s)`` (MViTv2-S: 8 → 4 → 2 → 1), the query with stride 1
  except at a stage change;
- **decomposed relative positions** (t, h, w) added to the attention logits, **residual pooling**
  (the pooled query is added to the attention output, CLS excluded), output projection;
- **MLP** ratio 4 with GELU, **stochastic depth** rising linearly from 0 to ``drop_path`` over the
  blocks, pre-LayerNorm residual blocks, a final LayerNorm on the last stage.

:meth:`MultiscaleVideoTransformer.forward` returns every stage's output as a ``(B, C, t, h, w)``
map (CLS token dropped). With the MViTv2-S settings and ``depths=(1, 2, 5, 2)`` on a 16 × 224²
clip the stages are 96@8×56², 192@8×28², 384@8×14² and 768@8×7².
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Thw = tuple[int, int, int]


def conv_out(size: int, kernel: int, stride: int, padding: int | None = None) -> int:
    """Output length of a convolution or pooling along one axis (``padding`` = kernel // 2)."""
    padding = kernel // 2 if padding is None else padding
    return (size + 2 * padding - kernel) // stride + 1


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch of a sample with probability ``p``."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def tokens_to_map(x: torch.Tensor, thw: Sequence[int]) -> torch.Tensor:
    """``(B, N, C)`` tokens (no CLS) → ``(B, C, t, h, w)``."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *thw)


class AttentionPool(nn.Module):
    """Pools per-head tokens ``(B, heads, 1 + N, d)``: depthwise Conv3d, then LayerNorm.

    The CLS token bypasses the convolution and is normalised with the pooled tokens.
    """

    def __init__(self, head_dim: int, stride: Thw, kernel: int = 3):
        super().__init__()
        self.conv = nn.Conv3d(
            head_dim,
            head_dim,
            kernel,
            stride=stride,
            padding=kernel // 2,
            groups=head_dim,
            bias=False,
        )
        self.norm = nn.LayerNorm(head_dim)

    def forward(self, x: torch.Tensor, thw: Thw) -> tuple[torch.Tensor, Thw]:
        b, heads, _, d = x.shape
        cls, tokens = x[:, :, :1], x[:, :, 1:]
        maps = tokens.reshape(b * heads, *thw, d).permute(0, 4, 1, 2, 3)
        maps = self.conv(maps)
        new_thw = tuple(maps.shape[2:])
        tokens = maps.flatten(2).transpose(1, 2).reshape(b, heads, -1, d)
        return self.norm(torch.cat([cls, tokens], dim=2)), new_thw


def _relative_index(q: int, k: int) -> torch.Tensor:
    """Index into a relative-position table for query/key positions along one axis.

    When q and k have different lengths the coarser axis is stretched to the finer one (MViTv2):
    ``q_i · max(k/q, 1) − k_j · max(q/k, 1) + (k − 1) · max(q/k, 1)``, truncated.
    """
    q_ratio, k_ratio = max(k / q, 1.0), max(q / k, 1.0)
    dist = torch.arange(q)[:, None] * q_ratio - (torch.arange(k)[None, :] - (k - 1)) * k_ratio
    return dist.long()


class RelativePosition(nn.Module):
    """Decomposed relative position embeddings: ``q · (R_t + R_h + R_w)`` added to the logits.

    One table of ``2 · max(q, k) − 1`` rows of ``head_dim`` per axis, for the query grid
    ``q_thw`` and key grid ``k_thw`` the block was built for.
    """

    def __init__(self, q_thw: Thw, k_thw: Thw, head_dim: int):
        super().__init__()
        self.q_thw, self.k_thw = tuple(q_thw), tuple(k_thw)
        self.tables = nn.ParameterList(
            nn.Parameter(torch.zeros(2 * max(q, k) - 1, head_dim))
            for q, k in zip(q_thw, k_thw, strict=True)
        )
        for axis, (q, k) in enumerate(zip(q_thw, k_thw, strict=True)):
            self.register_buffer(f"index_{axis}", _relative_index(q, k), persistent=False)

    def forward(self, attn: torch.Tensor, q: torch.Tensor, q_thw: Thw, k_thw: Thw) -> torch.Tensor:
        if tuple(q_thw) != self.q_thw or tuple(k_thw) != self.k_thw:
            raise ValueError(
                f"relative positions were built for query {self.q_thw} and key {self.k_thw} "
                f"grids, got {tuple(q_thw)} and {tuple(k_thw)}: build the model for this "
                "clip length and frame size"
            )
        b, heads, _, d = q.shape
        qt, qh, qw = q_thw
        kt, kh, kw = k_thw
        rt, rh, rw = (table[getattr(self, f"index_{i}")] for i, table in enumerate(self.tables))
        r_q = q[:, :, 1:].reshape(b, heads, qt, qh, qw, d)
        rel_t = torch.einsum("bnthwc,tkc->bnthwk", r_q, rt)[..., :, None, None]
        rel_h = torch.einsum("bnthwc,hkc->bnthwk", r_q, rh)[..., None, :, None]
        rel_w = torch.einsum("bnthwc,wkc->bnthwk", r_q, rw)[..., None, None, :]
        logits = attn[:, :, 1:, 1:].reshape(b, heads, qt, qh, qw, kt, kh, kw)
        logits = logits + rel_t + rel_h + rel_w
        attn[:, :, 1:, 1:] = logits.reshape(b, heads, qt * qh * qw, kt * kh * kw)
        return attn


class MultiscaleAttention(nn.Module):
    """Pooling attention with relative positions and residual pooling (MViTv2)."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        heads: int,
        thw: Thw,
        q_stride: Thw,
        kv_stride: Thw,
        kernel: int = 3,
    ):
        super().__init__()
        if dim_out % heads:
            raise ValueError(f"{dim_out} channels do not split into {heads} heads")
        self.heads, self.dim_out = heads, dim_out
        head_dim = dim_out // heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim_in, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)
        self.pool_q = AttentionPool(head_dim, q_stride, kernel)
        self.pool_k = AttentionPool(head_dim, kv_stride, kernel)
        self.pool_v = AttentionPool(head_dim, kv_stride, kernel)
        self.q_thw = tuple(conv_out(n, kernel, s) for n, s in zip(thw, q_stride, strict=True))
        k_thw = tuple(conv_out(n, kernel, s) for n, s in zip(thw, kv_stride, strict=True))
        self.rel_pos = RelativePosition(self.q_thw, k_thw, head_dim)

    def forward(self, x: torch.Tensor, thw: Thw) -> tuple[torch.Tensor, Thw]:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        q, q_thw = self.pool_q(q, thw)
        k, k_thw = self.pool_k(k, thw)
        v, _ = self.pool_v(v, thw)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = self.rel_pos(attn, q, q_thw, k_thw).softmax(dim=-1)
        out = attn @ v
        out[:, :, 1:] += q[:, :, 1:]  # residual pooling connection (not for the CLS token)
        out = out.transpose(1, 2).reshape(b, -1, self.dim_out)
        return self.proj(out), q_thw


class MultiscaleBlock(nn.Module):
    """``x = skip(x) + DropPath(attn(LN(x)))``; ``x = x + DropPath(MLP(LN(x)))``."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        heads: int,
        thw: Thw,
        q_stride: Thw,
        kv_stride: Thw,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim_in)
        self.attn = MultiscaleAttention(dim_in, dim_out, heads, thw, q_stride, kv_stride)
        self.out_thw = self.attn.q_thw
        # dim_mul_in_att: the skip path is projected from the normalised input
        self.skip_proj = nn.Linear(dim_in, dim_out) if dim_in != dim_out else None
        self.skip_pool = None
        if any(s > 1 for s in q_stride):
            kernel = tuple(s + 1 if s > 1 else s for s in q_stride)
            padding = tuple(k // 2 for k in kernel)
            self.skip_pool = nn.MaxPool3d(kernel, stride=q_stride, padding=padding)
        self.norm2 = nn.LayerNorm(dim_out)
        hidden = int(dim_out * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim_out, hidden), nn.GELU(), nn.Linear(hidden, dim_out))
        self.drop_path = DropPath(drop_path)

    def _pool_skip(self, x: torch.Tensor, thw: Thw) -> torch.Tensor:
        cls, tokens = x[:, :1], x[:, 1:]
        pooled = self.skip_pool(tokens_to_map(tokens, thw))
        return torch.cat([cls, pooled.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, x: torch.Tensor, thw: Thw) -> tuple[torch.Tensor, Thw]:
        x_norm = self.norm1(x)
        attn, new_thw = self.attn(x_norm, thw)
        skip = x if self.skip_proj is None else self.skip_proj(x_norm)
        if self.skip_pool is not None:
            skip = self._pool_skip(skip, thw)
        x = skip + self.drop_path(attn)
        return x + self.drop_path(self.mlp(self.norm2(x))), new_thw


class MultiscaleVideoTransformer(nn.Module):
    """Embedding + MViTv2 stages; ``forward`` returns every stage's ``(B, C, t, h, w)`` map.

    ``frames``/``size``: the clip length and square frame side it is built for (the relative
    position tables depend on them). ``temporal_pool`` > 1 averages that many embedded frames
    into one before the first block (IFDD does so with 2 for 32-frame clips).
    ``stage_shapes``: ``(channels, (t, h, w))`` per stage.
    """

    def __init__(
        self,
        frames: int,
        size: int,
        embed_dim: int = 96,
        depths: Sequence[int] = (1, 2, 5, 2),
        heads: Sequence[int] = (1, 2, 4, 8),
        kv_stride: int = 8,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        temporal_pool: int = 1,
    ):
        super().__init__()
        depths, heads = tuple(depths), tuple(heads)
        if len(depths) != len(heads) or not depths or min(depths) < 1:
            raise ValueError(f"depths {depths} and heads {heads}: one positive depth per stage")
        self.embed = nn.Conv3d(3, embed_dim, (3, 7, 7), stride=(2, 4, 4), padding=(1, 3, 3))
        self.temporal_pool = temporal_pool
        t = conv_out(frames, 3, 2) // temporal_pool
        thw = (t, conv_out(size, 7, 4), conv_out(size, 7, 4))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        total = sum(depths)
        blocks, self.stage_ends, self.stage_shapes = [], [], []
        dim = embed_dim
        for stage, (depth, n_heads) in enumerate(zip(depths, heads, strict=True)):
            out = embed_dim * 2**stage
            kv = max(kv_stride // 2**stage, 1)
            for j in range(depth):
                q_stride = (1, 2, 2) if stage > 0 and j == 0 else (1, 1, 1)
                rate = drop_path * len(blocks) / max(total - 1, 1)
                block = MultiscaleBlock(
                    dim, out, n_heads, thw, q_stride, (1, kv, kv), mlp_ratio, rate
                )
                blocks.append(block)
                thw, dim = block.out_thw, out
            self.stage_ends.append(len(blocks) - 1)
            self.stage_shapes.append((dim, thw))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(dim)
        self.apply(init_transformer_weights)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for block in blocks:
            for table in block.attn.rel_pos.tables:
                nn.init.trunc_normal_(table, std=0.02)

    def forward(self, clip: torch.Tensor) -> list[torch.Tensor]:
        """``clip``: ``(B, 3, T, H, W)``."""
        x = self.embed(clip)
        if self.temporal_pool > 1:
            x = F.avg_pool3d(x, (self.temporal_pool, 1, 1))
        thw = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        stages = []
        for i, block in enumerate(self.blocks):
            x, thw = block(x, thw)
            if i in self.stage_ends:
                tokens = self.norm(x[:, 1:]) if i == len(self.blocks) - 1 else x[:, 1:]
                stages.append(tokens_to_map(tokens, thw))
        return stages


def init_transformer_weights(module: nn.Module) -> None:
    """Linear weights ~ truncated normal (std 0.02), biases 0, LayerNorm 1/0 (as MViTv2)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
