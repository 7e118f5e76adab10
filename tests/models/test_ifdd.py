"""IFDD: shapes against the reference, ISSM sampling, LADM wiring, the lifting loss, paper size.

The paper-sized model is built and run on the ``meta`` device (shapes and FLOP counts only), so
its parameter count, stage shapes and 48 GFLOPs check cost well under a second each.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emobench.errors import ProtocolError
from emobench.models.complexity import measure
from emobench.models.ifdd import IFDD_CONFIGS, IntervalSampler, lifting_loss, sample_frames
from emobench.models.registry import ModelSpec, create_model

CLASSES = 7
REFERENCE_PARAMS = 37.58e6  # reference §2.5: the original code, 16 × 224², 7 classes
REFERENCE_GFLOPS = 48.0  # fvcore, one fused multiply-add = one FLOP


def make_spec(config: str = "small", frames: int = 16, side: int = 112, **overrides) -> ModelSpec:
    return ModelSpec(
        task="classification",
        num_outputs=CLASSES,
        config=config,
        frames=frames,
        frame_size=side,
        overrides=overrides,
    )


def make_batch(n: int = 2, frames: int = 16, side: int = 112, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "face": torch.rand(n, frames, 3, side, side, generator=g),
        "target": torch.randint(0, CLASSES, (n,), generator=g),
    }


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return create_model("ifdd", make_spec()).eval()


@pytest.fixture(scope="module")
def paper_meta():
    with torch.device("meta"):
        return create_model("ifdd", make_spec("paper", side=224)).eval()


# ---------------------------------------------------------------- shapes and sizes


def test_paper_stage_shapes_follow_the_reference(paper_meta) -> None:
    assert paper_meta.backbone.stage_shapes == [
        (96, (8, 56, 56)),
        (192, (8, 28, 28)),
        (384, (8, 14, 14)),
        (768, (8, 7, 7)),
    ]
    heads = [block.attn.heads for block in paper_meta.backbone.blocks]
    assert heads == [1, 2, 2, 4, 4, 4, 4, 4, 8, 8]
    with torch.no_grad():
        stages = paper_meta.backbone(torch.empty(1, 3, 16, 224, 224, device="meta"))
        out = paper_meta({"face": torch.empty(1, 16, 3, 224, 224, device="meta")})
    assert [tuple(s.shape[1:]) for s in stages] == [
        (96, 8, 56, 56),
        (192, 8, 28, 28),
        (384, 8, 14, 14),
        (768, 8, 7, 7),
    ]
    assert out["features"].shape == (1, 768, 8, 7, 7)  # the pyramid output
    assert out["x_a"].shape == out["x_d"].shape == (1, 768, 4, 7, 7)
    assert out["offsets"].shape == (1, 2, 4)
    assert out["output"].shape == (1, CLASSES)


def test_paper_parameters_within_5_percent_of_the_reference(paper_meta) -> None:
    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    total = count(paper_meta)
    assert abs(total - REFERENCE_PARAMS) / REFERENCE_PARAMS < 0.05, total
    # the reference breakdown (M): embed 0.04 + MViT-XS 23.45, pyramid 2.21, ISSM+LADM 11.87
    assert count(paper_meta.backbone.embed) == 3 * 96 * 3 * 7 * 7 + 96
    assert abs(count(paper_meta.backbone) / 1e6 - 23.49) < 0.05 * 23.49
    assert abs(count(paper_meta.pyramid) / 1e6 - 2.21) < 0.05 * 2.21
    assert abs((count(paper_meta.issm) + count(paper_meta.ladm)) / 1e6 - 11.87) < 0.05 * 11.87
    assert count(paper_meta.head) == 768 * CLASSES + CLASSES


def test_paper_flops_within_5_percent_of_the_reference() -> None:
    # measured on the meta device at the full 16 × 224² clip (no scaling)
    row = measure("ifdd", "paper")
    assert row.side == row.model_side == 224 and row.frames == 16
    assert abs(row.gflops - REFERENCE_GFLOPS) / REFERENCE_GFLOPS < 0.05, row.gflops


def test_32_frame_clips_are_pooled_to_the_16_frame_backbone() -> None:
    # reference: MAFW 32 × 224² clips get an extra temporal AvgPool(2): 37.58 M, 49.1 GFLOPs
    row = measure("ifdd", "paper", frames=32)
    assert abs(row.gflops - 49.1) / 49.1 < 0.05, row.gflops
    assert row.params == measure("ifdd", "paper").params
    torch.manual_seed(0)
    model = create_model("ifdd", make_spec(frames=32)).eval()
    with torch.no_grad():
        out = model(make_batch(frames=32))
    assert out["features"].shape[2] == 8 and out["x_d"].shape[2] == 4
    with pytest.raises(ProtocolError, match="multiple"):
        create_model("ifdd", make_spec(frames=24))


@pytest.mark.parametrize("config", ["paper", "small"])
def test_config_reaches_the_modules(config: str) -> None:
    """Stochastic depth rises linearly over the backbone's blocks from 0 to ``drop_path``, and
    the LADM self-attention uses the same rate; the LADM attentions have ``ladm_heads`` heads;
    the head's dropout is ``head_dropout``."""
    from emobench.models.mvit import DropPath

    cfg = IFDD_CONFIGS[config]
    with torch.device("meta"):
        model = create_model("ifdd", make_spec(config, side=224, backbone="mvit"))
    rates = [m.p for m in model.backbone.modules() if isinstance(m, DropPath)]
    assert len(rates) == sum(cfg.depths)
    assert rates == pytest.approx(np.linspace(0.0, cfg.drop_path, len(rates)).tolist())
    ladm = model.ladm
    assert ladm.drop_path.p == cfg.drop_path
    assert ladm.updater.heads == ladm.predictor.heads == ladm.attn.heads == cfg.ladm_heads
    assert model.dropout.p == cfg.head_dropout


def test_small_shapes(small_model) -> None:
    with torch.no_grad():
        out = small_model(make_batch())
    dim = small_model.head.in_features
    assert dim == 160  # layer4 of the width-20 lite ResNet-18 encoder
    assert out["output"].shape == (2, CLASSES)
    t, h, w = out["features"].shape[2:]
    assert t == 8
    assert out["x_a"].shape == out["x_d"].shape == (2, dim, 4, h, w)
    assert out["clip_vector"].shape == (2, dim)
    assert small_model.ladm.token_pool.in_features == 4 * h * w


def test_overrides_and_refusals() -> None:
    mvit = {"backbone": "mvit"}
    model = create_model("ifdd", make_spec(depths=[1, 1, 1, 1], embed_dim=16, **mvit))
    assert model.cfg.depths == (1, 1, 1, 1) and len(model.backbone.blocks) == 4
    assert model.head.in_features == 128
    kept = create_model("ifdd", make_spec(input_size=0, embed_dim=8, depths=[1, 1, 1, 1], **mvit))
    assert kept.backbone.stage_shapes[0][1] == (8, 28, 28)  # built for the stored 112² frames
    with pytest.raises(ProtocolError, match="no_such_key"):
        create_model("ifdd", make_spec(no_such_key=1))
    with pytest.raises(ProtocolError, match="even"):
        create_model("ifdd", make_spec(frames=6, **mvit))  # 3 feature frames: no even split
    with pytest.raises(ProtocolError, match="even"):
        create_model("ifdd", make_spec(frames=6))  # the lite encoder: 6 // 2 = 3 frames
    with pytest.raises(ProtocolError, match="classification"):
        create_model("ifdd", ModelSpec(task="regression", num_outputs=1, frames=16))
    with pytest.raises(ProtocolError, match="16-frame"):
        model(make_batch(frames=8))


# ---------------------------------------------------------------- ISSM


def test_offsets_stay_within_two_frames(small_model) -> None:
    torch.manual_seed(1)
    issm = IntervalSampler(channels=8, frames=8, reduced=7, grid=2)
    with torch.no_grad():
        issm.offset_a.weight.normal_(0, 100.0)
        issm.offset_d.weight.normal_(0, 100.0)
    offsets = issm.offsets(torch.randn(3, 8, 8, 2, 2))
    assert offsets.shape == (3, 2, 4)
    assert offsets.abs().max() <= 2.0 and offsets.abs().max() > 1.9  # saturated, still bounded
    with torch.no_grad():
        out = small_model(make_batch())
    assert out["offsets"].abs().max() <= 2.0


def test_zero_offsets_take_the_even_and_odd_frames() -> None:
    issm = IntervalSampler(channels=5, frames=8, reduced=7, grid=2)
    with torch.no_grad():
        issm.offset_a.weight.zero_()
        issm.offset_d.weight.zero_()
    features = torch.randn(2, 5, 8, 3, 3)
    x_a, x_d, offsets = issm(features)
    assert torch.equal(offsets, torch.zeros(2, 2, 4))
    assert torch.allclose(x_a, features[:, :, 0::2], atol=1e-6)
    assert torch.allclose(x_d, features[:, :, 1::2], atol=1e-6)


def test_sampling_interpolates_linearly_and_clamps_at_the_border() -> None:
    features = torch.randn(1, 2, 4, 1, 1)
    positions = torch.tensor([[0.25, 2.5, -1.0, 7.0]])
    got = sample_frames(features, positions)[0, :, :, 0, 0]
    f = features[0, :, :, 0, 0]
    expected = torch.stack(
        [0.75 * f[:, 0] + 0.25 * f[:, 1], 0.5 * (f[:, 2] + f[:, 3]), f[:, 0], f[:, 3]], dim=1
    )
    assert torch.allclose(got, expected, atol=1e-6)


def test_offsets_learn_through_the_sampling() -> None:
    torch.manual_seed(0)
    model = create_model("ifdd", make_spec())
    batch = make_batch()
    model.loss(model(batch), batch).backward()
    assert model.issm.offset_a.weight.grad.abs().sum() > 0
    assert model.issm.offset_d.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- LADM and the head


def test_only_the_detail_band_is_classified(small_model, monkeypatch) -> None:
    batch = make_batch()
    with torch.no_grad():
        out = small_model(batch)
        tokens = out["x_d"].flatten(2).transpose(1, 2)
        assert torch.allclose(
            small_model.head(small_model.ladm.refine(tokens)), out["output"], atol=1e-5
        )
    lift = small_model.ladm.lift

    def perturbed(scale_a: float, scale_d: float):
        # random noise per token and channel (a constant shift would vanish in the LayerNorms)
        def run(x_a, x_d):
            a, d = lift(x_a, x_d)
            g = torch.Generator().manual_seed(0)
            return a + scale_a * torch.randn(a.shape, generator=g), d + scale_d * torch.randn(
                d.shape, generator=g
            )

        return run

    with torch.no_grad():
        monkeypatch.setattr(small_model.ladm, "lift", perturbed(1.0, 0.0))
        moved_a = small_model(batch)
        monkeypatch.setattr(small_model.ladm, "lift", perturbed(0.0, 1.0))
        moved_d = small_model(batch)
    # the lifted approximation band only reaches the lifting loss ...
    assert torch.equal(moved_a["output"], out["output"])
    assert not torch.isclose(moved_a["lifting"], out["lifting"])
    # ... the predicted detail band is what the head sees
    assert not torch.allclose(moved_d["output"], out["output"])


def test_update_comes_before_predict() -> None:
    """x_a is updated from x_d first; the prediction of x_d then reads the *updated* x_a."""
    torch.manual_seed(0)
    ladm = create_model("ifdd", make_spec()).ladm.eval()
    x_a, x_d = torch.randn(2, 16, 160), torch.randn(2, 16, 160)
    a, d = ladm.lift(x_a, x_d)
    a0, d0 = ladm.norm_a(x_a), ladm.norm_d(x_d)
    a_expected = a0 + ladm.updater(a0, d0)
    assert torch.allclose(a, a_expected, atol=1e-5)
    assert torch.allclose(d, d0 - ladm.predictor(d0, a_expected), atol=1e-5)


# ---------------------------------------------------------------- loss


def numpy_smooth_l1(x: np.ndarray) -> float:
    a = np.abs(x)
    return float(np.where(a < 1.0, 0.5 * x * x, a - 0.5).mean())


def test_lifting_loss_against_a_direct_computation(small_model) -> None:
    batch = make_batch(seed=3)
    with torch.no_grad():
        out = small_model(batch)
    features = out["features"].double().numpy()
    x_a = out["x_a"].double().numpy()
    pooled = (features[:, :, 0::2] + features[:, :, 1::2]) / 2  # AvgPool3d over time, kernel 2
    pool_a = (pooled - x_a).mean(axis=(1, 2))  # mean over (C, T) → (B, h, w)
    assert out["lifting"].item() == pytest.approx(numpy_smooth_l1(pool_a), rel=1e-5, abs=1e-7)
    # and with values in the linear part of the smooth L1
    f, a = torch.randn(2, 3, 4, 2, 2) * 5, torch.randn(2, 3, 2, 2, 2) * 5
    expected = numpy_smooth_l1(
        ((f[:, :, 0::2] + f[:, :, 1::2]) / 2 - a).mean(dim=(1, 2)).double().numpy()
    )
    assert lifting_loss(f, a).item() == pytest.approx(expected, rel=1e-5)
    total = small_model.loss(out, batch)
    ce = F.cross_entropy(out["output"], batch["target"])
    assert total.item() == pytest.approx((ce + 0.1 * out["lifting"]).item(), rel=1e-6)


# ---------------------------------------------------------------- training


def test_small_one_training_step() -> None:
    torch.manual_seed(0)
    model = create_model("ifdd", make_spec())
    batch = make_batch(n=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=model.train_config.lr)
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    out = model(batch)
    loss = model.loss(out, batch)
    # the loss of a training step (dropout and stochastic depth on) is the loss of its outputs
    ce = F.cross_entropy(out["output"], batch["target"])
    assert loss.item() == pytest.approx((ce + 0.1 * out["lifting"]).item(), rel=1e-6)
    optimizer.zero_grad()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    optimizer.step()
    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    assert changed == len(before)


def test_lite_resnet_encoder_feeds_the_same_issm_and_ladm() -> None:
    torch.manual_seed(0)
    model = create_model("ifdd", make_spec(backbone="resnet", resnet_width=8, input_size=56))
    (low, (t, h3, w3)), (high, (t2, h4, w4)) = model.backbone.stage_shapes
    assert (low, high, t, t2) == (32, 64, 8, 8)  # layer3, layer4 of a width-8 ResNet-18
    assert (h3, w3, h4, w4) == (4, 4, 2, 2)  # 56² frames: strides 16 and 32
    batch = make_batch(n=2)
    out = model(batch)
    assert out["features"].shape == (2, high, 8, h4, w4)
    assert out["x_d"].shape == (2, high, 4, h4, w4) and out["output"].shape == (2, CLASSES)
    model.loss(out, batch).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ProtocolError, match="backbone"):
        create_model("ifdd", make_spec(backbone="vgg"))
