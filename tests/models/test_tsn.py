"""TSN / TSM (emobench.models.tsn, temporal_shift, bottleneck_resnet, sgd_schedule): shapes,
segment sampling, the shift itself, fusion arithmetic, the optimizers and a short training."""

from __future__ import annotations

import pytest
import torch

from emobench.errors import ProtocolError
from emobench.models.backbones import ResNet18
from emobench.models.bottleneck_resnet import Bottleneck, ResNet50
from emobench.models.registry import ModelSpec, create_model
from emobench.models.temporal_shift import TemporalShift, add_temporal_shift, temporal_shift
from emobench.models.tsn import TSN_CONFIGS, segment_bounds, segment_indices

FRAMES, SIDE, CLASSES = 10, 32, 3
TINY = {"width": 4, "input_size": 32}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these networks are tiny, and on a shared machine the threads of a
    parallel region wait for each other far longer than the arithmetic takes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def spec(task: str = "classification", config: str = "small", **overrides) -> ModelSpec:
    outputs = 1 if task == "regression" else CLASSES
    return ModelSpec(
        task=task,
        num_outputs=outputs,
        config=config,
        frames=FRAMES,
        frame_size=SIDE,
        overrides={**TINY, **overrides} if config == "small" else overrides,
    )


def clips(n: int = 2, seed: int = 0, frames: int = FRAMES, side: int = SIDE) -> torch.Tensor:
    return torch.rand(n, frames, 3, side, side, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("task", "shape"),
    [("classification", (2, CLASSES)), ("multilabel", (2, CLASSES)), ("regression", (2,))],
)
@pytest.mark.parametrize("name", ["tsn", "tsn-fusion"])
def test_output_shapes(name: str, task: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = create_model(name, spec(task))
    batch = {"face": clips(), "body": clips(seed=1)}
    for training in (True, False):
        model.train(training)
        out = model(batch)
        assert out["output"].shape == shape
        assert out["features"].shape[0] == 2
    assert model.last_indices.shape == (2, 5)


def test_resnet50_has_the_torchvision_parameter_count_and_interface() -> None:
    net = ResNet50(width=8, input_size=32)
    with torch.device("meta"):
        assert sum(p.numel() for p in ResNet50(64).parameters()) == 23_508_032
    low, high = net.feature_maps(torch.rand(2, 3, 40, 40))
    assert low.shape == (2, 16 * 8, 2, 2) and high.shape == (2, 32 * 8, 1, 1)
    assert net(torch.rand(2, 3, 40, 40)).shape == (2, net.out_features) == (2, 256)
    assert sum(isinstance(m, Bottleneck) for m in net.modules()) == 16


# ---------------------------------------------------------------- segment sampling


def test_segment_bounds_split_the_clip_evenly() -> None:
    assert segment_bounds(10, 5) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert segment_bounds(8, 5) == [(0, 1), (1, 3), (3, 4), (4, 6), (6, 8)]
    assert segment_bounds(3, 5) == [(0, 1), (0, 1), (1, 2), (1, 2), (2, 3)]


def test_training_draws_inside_each_segment_and_covers_it() -> None:
    torch.manual_seed(0)
    idx = segment_indices(400, 10, 5, training=True)
    assert idx.shape == (400, 5)
    for k in range(5):
        assert set(idx[:, k].tolist()) == {2 * k, 2 * k + 1}  # both frames of the segment
    assert not (idx == idx[0]).all(1).all()  # clips draw independently


def test_evaluation_takes_segment_centres() -> None:
    assert segment_indices(3, 10, 5, training=False).tolist() == [[1, 3, 5, 7, 9]] * 3
    assert segment_indices(1, 8, 5, training=False).tolist() == [[0, 2, 3, 5, 7]]
    assert segment_indices(1, 5, 5, training=False).tolist() == [[0, 1, 2, 3, 4]]


def test_training_sampling_follows_the_global_seed() -> None:
    draws = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        draws.append(segment_indices(16, 10, 5, training=True))
    assert torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], draws[2])


def test_model_samples_random_frames_in_training_and_centres_in_eval() -> None:
    torch.manual_seed(0)
    model = create_model("tsn", spec())
    batch = {"face": clips(n=8)}
    model.eval()
    with torch.no_grad():
        first = model(batch)["output"]
        assert model.last_indices.tolist() == [[1, 3, 5, 7, 9]] * 8
        assert torch.equal(model(batch)["output"], first)
    model.train()
    torch.manual_seed(5)
    model(batch)
    a = model.last_indices.clone()
    torch.manual_seed(5)
    model(batch)
    assert torch.equal(model.last_indices, a)
    assert not torch.equal(a, torch.tensor([[1, 3, 5, 7, 9]] * 8))


def test_model_reads_only_the_sampled_frames() -> None:
    torch.manual_seed(0)
    model = create_model("tsn", spec()).eval()
    batch = clips()
    changed = batch.clone()
    changed[:, [0, 2, 4, 6, 8]] = torch.rand_like(changed[:, [0, 2, 4, 6, 8]])
    with torch.no_grad():
        assert torch.equal(model({"face": batch})["output"], model({"face": changed})["output"])
        changed[:, 3] = 0
        assert not torch.equal(model({"face": batch})["output"], model({"face": changed})["output"])


def test_fusion_streams_share_frame_positions() -> None:
    torch.manual_seed(0)
    model = create_model("tsn-fusion", spec())
    model.train()
    face = torch.arange(FRAMES).float().reshape(1, FRAMES, 1, 1, 1).expand(2, -1, 3, SIDE, SIDE)
    seen = {}
    for name in ("face", "body"):
        model.streams[name].register_forward_pre_hook(
            lambda _m, args, name=name: seen.__setitem__(name, args[0][:, :, 0, 0, 0].clone())
        )
    model({"face": face, "body": face.clone()})
    assert torch.equal(seen["face"], seen["body"])
    assert torch.equal(seen["face"].long(), model.last_indices)


# ---------------------------------------------------------------- temporal shift


def test_shift_moves_one_eighth_each_way_and_zero_fills() -> None:
    n, t, c = 2, 4, 16
    x = torch.arange(n * t * c, dtype=torch.float32).reshape(n * t, c, 1, 1) + 1
    out = temporal_shift(x, t, 8).reshape(n, t, c)
    src = x.reshape(n, t, c)
    fold = c // 8
    assert torch.equal(out[:, :-1, :fold], src[:, 1:, :fold])  # back: frame t reads t + 1
    assert (out[:, -1, :fold] == 0).all()
    assert torch.equal(out[:, 1:, fold : 2 * fold], src[:, :-1, fold : 2 * fold])  # forward
    assert (out[:, 0, fold : 2 * fold] == 0).all()
    assert torch.equal(out[:, :, 2 * fold :], src[:, :, 2 * fold :])
    assert int((out == 0).sum()) == n * 2 * fold  # nothing else zeroed
    assert not torch.equal(out[0, 0], src[0, 0]) and torch.equal(x, src.reshape(x.shape))


def test_shift_never_mixes_clips() -> None:
    x = torch.zeros(2 * 3, 8, 2, 2)
    x[:3] = 1.0  # clip 0 ones, clip 1 zeros
    out = temporal_shift(x, 3, 8)
    assert (out[3:] == 0).all()
    with pytest.raises(ValueError, match="multiple"):
        temporal_shift(torch.zeros(5, 8, 1, 1), 3)


def test_add_temporal_shift_wraps_every_block_conv1() -> None:
    r18, r50 = ResNet18(width=8), ResNet50(width=4)
    assert add_temporal_shift(r18, 5) == 8
    assert add_temporal_shift(r50, 5) == 16
    assert add_temporal_shift(r50, 5) == 0  # already shifted
    assert sum(isinstance(m, TemporalShift) for m in r50.modules()) == 16
    assert not isinstance(r18.conv1, TemporalShift)  # the stem is not a residual block
    with pytest.raises(ValueError, match="residual blocks"):
        add_temporal_shift(torch.nn.Conv2d(3, 3, 1), 5)


def test_shift_changes_outputs_with_the_same_weights() -> None:
    torch.manual_seed(0)
    plain = create_model("tsn", spec()).eval()
    shifted = create_model("tsn", spec(shift=True)).eval()
    assert sum(isinstance(m, TemporalShift) for m in shifted.modules()) == 8
    shifted.load_state_dict(_shifted_state(plain.state_dict()))  # the same weights
    batch = {"face": clips()}
    with torch.no_grad():
        assert not torch.allclose(plain(batch)["output"], shifted(batch)["output"])
        still = clips()
        still[:] = still[:, :1]  # a still clip: the shift only brings zeros in at the ends
        assert not torch.allclose(
            plain({"face": still})["output"], shifted({"face": still})["output"]
        )


def _shifted_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A plain TSN's weights renamed for the same network with shifted blocks."""
    out = {}
    for key, value in state.items():
        if ".layer" in key and ".conv1." in key:
            key = key.replace(".conv1.", ".conv1.net.")
        out[key] = value
    return out


def test_shift_is_the_identity_on_one_eighth_less_than_two_folds() -> None:
    x = torch.rand(6, 7, 2, 2)  # 7 // 8 = 0 channels per fold: nothing moves
    assert torch.equal(temporal_shift(x, 3, 8), x)


# ---------------------------------------------------------------- fusion


def test_score_fusion_is_the_mean_of_the_stream_scores() -> None:
    torch.manual_seed(0)
    model = create_model("tsn-fusion", spec("multilabel")).eval()
    assert set(model.heads) == {"face", "body"} and set(model.streams) == {"face", "body"}
    batch = {"face": clips(), "body": clips(seed=1), "target": torch.ones(2, CLASSES)}
    with torch.no_grad():
        out = model(batch)
        face = model.streams["face"](clips()[:, [1, 3, 5, 7, 9]])
        body = model.streams["body"](clips(seed=1)[:, [1, 3, 5, 7, 9]])
        face_scores = model.heads["face"](face).mean(1)
        body_scores = model.heads["body"](body).mean(1)
    torch.testing.assert_close(out["face_output"], face_scores)
    torch.testing.assert_close(out["body_output"], body_scores)
    torch.testing.assert_close(out["output"], (face_scores + body_scores) / 2)
    assert not torch.allclose(face_scores, body_scores)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(face_scores, batch["target"]) + bce(body_scores, batch["target"])
    torch.testing.assert_close(model.loss(out, batch), expected)


def test_cat_fusion_has_one_head_over_both_streams() -> None:
    torch.manual_seed(0)
    model = create_model("tsn-fusion", spec(fusion="cat")).eval()
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    width = model.streams["face"].out_features
    assert len(heads) == 1 and heads[0].in_features == 2 * width
    assert not hasattr(model, "heads")
    batch = {"face": clips(), "body": clips(seed=1)}
    with torch.no_grad():
        out = model(batch)
        face = model.streams["face"](clips()[:, [1, 3, 5, 7, 9]]).mean(1)
        body = model.streams["body"](clips(seed=1)[:, [1, 3, 5, 7, 9]]).mean(1)
    torch.testing.assert_close(out["features"], torch.cat([face, body], 1))
    torch.testing.assert_close(out["output"], heads[0](torch.cat([face, body], 1)))


def test_shared_fusion_runs_one_network_on_both_crops() -> None:
    torch.manual_seed(0)
    separate = create_model("tsn-fusion", spec())
    shared = create_model("tsn-fusion", spec(shared=True)).eval()
    assert set(shared.streams) == {"shared"} and set(shared.heads) == {"shared"}
    params = sum(p.numel() for p in shared.parameters())
    assert 2 * params == sum(p.numel() for p in separate.parameters())
    same = clips()
    with torch.no_grad():
        out = shared({"face": same, "body": same.clone()})
    torch.testing.assert_close(out["face_output"], out["body_output"])


# ---------------------------------------------------------------- configs and training


def test_configs_follow_the_paper_code() -> None:
    paper = TSN_CONFIGS["paper"]
    assert (paper.backbone, paper.width, paper.segments, paper.dropout) == ("resnet50", 64, 5, 0.5)
    assert (paper.optimizer, paper.lr, paper.momentum, paper.weight_decay) == (
        "sgd",
        0.01,
        0.9,
        5e-4,
    )
    assert (paper.scheduler, paper.milestones, paper.gamma) == ("multistep", (20, 40), 0.1)
    assert (paper.epochs, paper.batch_size, paper.shift) == (12, 8, False)
    small = TSN_CONFIGS["small"]
    assert (small.backbone, small.width, small.input_size, small.segments) == (
        "resnet18",
        16,
        112,
        5,
    )
    assert (small.optimizer, small.lr, small.scheduler) == ("adamw", 1e-3, "cosine")


@pytest.mark.parametrize("name", ["tsn", "tsn-fusion"])
def test_paper_config_builds_and_runs_one_sample(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, spec("multilabel", config="paper", input_size=32)).eval()
    assert sum(isinstance(m, Bottleneck) for m in model.modules()) == 16 * (1 + (name != "tsn"))
    with torch.no_grad():
        out = model({"face": clips(n=1), "body": clips(n=1, seed=1)})
    assert out["output"].shape == (1, CLASSES) and torch.isfinite(out["output"]).all()
    assert out["features"].shape[1] == 2048 * (1 + (name != "tsn"))


def test_sgd_multistep_optimizer_and_schedule() -> None:
    model = create_model(
        "tsn", spec(milestones=[3, 2], optimizer="sgd", scheduler="multistep", lr=0.01)
    )
    assert model.cfg.milestones == (2, 3)
    ((opt, sched),) = model.optimizers(5)
    assert isinstance(opt, torch.optim.SGD)
    assert opt.param_groups[0]["momentum"] == 0.9
    assert opt.param_groups[0]["weight_decay"] == 5e-4
    rates = []
    for _ in range(4):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates == pytest.approx([0.01, 0.01, 0.001, 0.0001])
    ((opt, sched),) = create_model("tsn", spec(optimizer="adamw", scheduler="none")).optimizers(5)
    assert isinstance(opt, torch.optim.AdamW) and sched is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"backbone": "vgg"}, "backbone 'vgg'"),
        ({"fusion": "max"}, "unknown override"),
        ({"segments": 0}, "segments"),
        ({"shift": "yes"}, "shift must be"),
        ({"optimizer": "rmsprop"}, "optimizer 'rmsprop'"),
        ({"scheduler": "step"}, "scheduler 'step'"),
        ({"milestones": [0]}, "milestones"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_settings_are_named(overrides: dict, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        create_model("tsn", spec(**overrides))


def test_fusion_setting_is_checked() -> None:
    with pytest.raises(ProtocolError, match="fusion 'max'"):
        create_model("tsn-fusion", spec(fusion="max"))


def test_gradient_clipping_bounds_the_update() -> None:
    torch.manual_seed(0)
    settings = {"clip_grad": 1e-3, "lr": 1.0, "momentum": 0.0, "weight_decay": 0.0}
    model = create_model("tsn", spec(optimizer="sgd", scheduler="none", **settings))
    before = [p.detach().clone() for p in model.parameters()]
    batch = {"face": clips(n=4), "target": torch.tensor([0, 1, 2, 0])}
    model.train_step(batch, model.optimizers(1))
    with torch.no_grad():
        moved = torch.sqrt(
            sum(((p - b) ** 2).sum() for p, b in zip(model.parameters(), before, strict=True))
        )
    assert 0 < float(moved) <= 1e-3 * (1 + 1e-4)


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("tsn", {}), ("tsn", {"shift": True}), ("tsn-fusion", {"fusion": "cat"})],
)
def test_training_steps_reduce_the_loss_on_a_separable_batch(name: str, overrides: dict) -> None:
    torch.manual_seed(0)
    model = create_model(name, spec(dropout=0.0, lr=0.05, **overrides))
    n = 6
    target = torch.arange(n) % CLASSES
    face = clips(n=n) * 0.2
    face[:, :, 0] += 0.8 * (target == 0).float()[:, None, None, None]  # class by colour
    face[:, :, 1] += 0.8 * (target == 1).float()[:, None, None, None]
    batch = {"face": face, "body": face.flip(-1), "target": target}
    optimizers = model.optimizers(1)
    model.train()  # batch statistics: a few steps leave BatchNorm's running statistics behind
    losses = [model.train_step(batch, optimizers) for _ in range(15)]
    with torch.no_grad():
        accuracy = (model(batch)["output"].argmax(1) == target).float().mean()
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses
    assert accuracy == 1.0
