"""The DFER baselines: static-resnet18 and r2plus1d, against torchvision's published sizes."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from emobench.models.backbones import ResNet18
from emobench.models.complexity import measure
from emobench.models.registry import ModelSpec, create_model
from emobench.models.video_backbones import R2Plus1d18, midplanes

CLASSES = 7
MODELS = ("static-resnet18", "r2plus1d")


def make_spec(config: str = "small", frames: int = 16, task: str = "classification", **over):
    outputs = CLASSES if task == "classification" else 1
    return ModelSpec(
        task=task, num_outputs=outputs, config=config, frames=frames, frame_size=112, overrides=over
    )


def make_batch(n: int = 2, frames: int = 16, side: int = 112) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "face": torch.rand(n, frames, 3, side, side, generator=g),
        "target": torch.randint(0, CLASSES, (n,), generator=g),
    }


def test_r2plus1d18_has_torchvisions_size() -> None:
    # torchvision r2plus1d_18: 31,505,325 parameters with its 400-class fc (512·400 + 400)
    with torch.device("meta"):
        trunk = R2Plus1d18(64)
    assert sum(p.numel() for p in trunk.parameters()) == 31_505_325 - (512 * 400 + 400)
    assert [midplanes(a, b) for a, b in ((64, 64), (64, 128), (128, 256), (256, 512))] == [
        144,
        230,
        460,
        921,
    ]


def test_r2plus1d_paper_flops_match_the_published_figure() -> None:
    # torchvision lists 40.52 GFLOPs (multiply-adds) for r2plus1d_18 on a 16 × 112² clip
    row = measure("r2plus1d", "paper")
    assert row.model_side == 112
    assert row.gflops == pytest.approx(40.52, rel=0.01)


def test_static_resnet18_paper_is_resnet18_per_frame() -> None:
    with torch.device("meta"):
        model = create_model("static-resnet18", make_spec("paper"))
    assert sum(p.numel() for p in model.parameters()) == 11_176_512 + 512 * CLASSES + CLASSES
    assert model.encoder.frames.cnn.input_size == 112
    # the trunk costs torchvision's published 1.81 GFLOPs on one 224² image ...
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        ResNet18(64)(torch.empty(1, 3, 224, 224))
    assert counter.get_total_flops() / 2e9 == pytest.approx(1.81, rel=0.01)
    # ... and the clip model runs it on each of the 16 frames, resized to 112²
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        model.encoder.frames.cnn(torch.empty(1, 3, 112, 112))
    per_frame = counter.get_total_flops() // 2
    assert measure("static-resnet18", "paper").flops == 16 * per_frame + 512 * CLASSES


@pytest.mark.parametrize("config", ["paper", "small"])
@pytest.mark.parametrize("name", MODELS)
def test_baselines_train_as_ifdd_does(name: str, config: str) -> None:
    """The baselines are IFDD's comparison: the engine trains each with IFDD's settings of the
    same size (optimizer, learning rate, decay, batch, epochs, schedule)."""

    def settings(model_name: str):
        with torch.device("meta"):
            return create_model(model_name, make_spec(config)).train_config

    assert settings(name) == settings("ifdd")


@pytest.mark.parametrize("name", MODELS)
def test_small_costs_about_as_much_as_small_ifdd(name: str) -> None:
    ifdd = measure("ifdd", "small").gflops
    assert 0.5 * ifdd < measure(name, "small").gflops < 2 * ifdd


@pytest.mark.parametrize("frames", [16, 8])
@pytest.mark.parametrize("name", MODELS)
def test_shapes(name: str, frames: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, make_spec(frames=frames)).eval()
    with torch.no_grad():
        out = model(make_batch(frames=frames))
    assert out["output"].shape == (2, CLASSES)
    assert out["features"].shape == (2, model.head.in_features)
    regression = create_model(name, make_spec(task="regression")).eval()
    with torch.no_grad():
        assert regression(make_batch())["output"].shape == (2,)


@pytest.mark.parametrize("name", MODELS)
def test_small_one_training_step(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, make_spec())
    batch = make_batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=model.train_config.lr)
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    out = model(batch)
    loss = model.loss(out, batch)
    ce = torch.nn.functional.cross_entropy(out["output"], batch["target"])
    assert loss.item() == pytest.approx(ce.item(), rel=1e-6)  # plain cross-entropy
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("name", MODELS)
def test_overrides(name: str) -> None:
    model = create_model(name, make_spec(width=4, input_size=32))
    assert model.head.in_features == 32 and model.cfg.input_size == 32
    assert model(make_batch())["output"].shape == (2, CLASSES)
