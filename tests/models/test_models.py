"""Every registered model, built small, on random batches (in the style of timm's test_models.py).

A newly registered model is picked up by the parametrisation the moment it exists.
"""

from __future__ import annotations

import json

import pytest
import torch

from emobench.errors import ProtocolError
from emobench.models.backbones import GradientReversal, ResNet18
from emobench.models.emert import EMERT_CONFIGS
from emobench.models.registry import ModelSpec, create_model, get_model_entry, model_names
from emobench.tasks import TASKS as TASK_REGISTRY

CLASSES = 7
SIZES = {"frames": 8, "frame_size": 112}
EYE_STEPS, EYE_FEATURES = 32, 14
SHAPES = {"eye": (EYE_STEPS, EYE_FEATURES), "gaze": (EYE_STEPS, 2), "fixmap": (24, 24)}
# head size per task, for every registered task a model can be trained on
TASKS = {
    name: CLASSES if name in ("classification", "multilabel") else 1
    for name in TASK_REGISTRY.names()
    if TASK_REGISTRY.get(name).evaluator == "trained"
}


def make_spec(task: str, **kwargs) -> ModelSpec:
    return ModelSpec(
        task=task,
        num_outputs=TASKS[task],
        config="small",
        shapes=SHAPES,
        **{**SIZES, **kwargs},
    )


def make_batch(
    inputs: tuple[str, ...], task: str, n: int = 4, seed: int = 0, **sizes: int
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = {**SIZES, **sizes}
    t, side, steps = s["frames"], s["frame_size"], EYE_STEPS
    makers = {
        "face": lambda: torch.rand(n, t, 3, side, side, generator=g),
        "eye": lambda: torch.randn(n, steps, EYE_FEATURES, generator=g),
        "gaze": lambda: torch.rand(n, steps, 2, generator=g) - 0.5,
        "apex": lambda: torch.rand(n, 3, side, side, generator=g),
        "visible": lambda: torch.rand(n, 3, side, side, generator=g),
        "thermal": lambda: torch.randn(n, 1, side, side, generator=g),
        "clip": lambda: torch.rand(n, t, 3, side, side, generator=g),
        "body": lambda: torch.rand(n, t, 3, side, side, generator=g),
        "fullbody": lambda: torch.rand(n, t, 3, side, side, generator=g),
        "scene": lambda: torch.rand(n, t, 3, side, side, generator=g),
        "fixmap": lambda: torch.softmax(torch.randn(n, 24 * 24, generator=g), 1).reshape(
            n, 1, 24, 24
        ),
    }
    batch = {name: makers[name]() for name in inputs}
    if task == "classification":
        batch["target"] = torch.randint(0, CLASSES, (n,), generator=g)
    elif task == "multilabel":
        batch["target"] = torch.randint(0, 2, (n, CLASSES), generator=g).float()
    else:
        batch["target"] = torch.rand(n, generator=g) * 2 - 1
    batch["aux_target"] = torch.randint(0, CLASSES, (n,), generator=g)
    return batch


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("name", model_names())
def test_model_forward_backward_step(name: str, task: str) -> None:
    entry = get_model_entry(name)
    if task not in entry.tasks:
        pytest.skip(f"{name} does not support {task}")
    torch.manual_seed(0)
    model = create_model(name, make_spec(task, aux_classes=CLASSES if entry.needs_aux else 0))
    batch = make_batch(entry.inputs, task)
    model.observe_targets(batch["target"])
    json.dumps(model.describe())  # the results file stores it

    out = model(batch)
    expected = (4, TASKS[task]) if TASKS[task] > 1 else (4,)
    assert out["output"].shape == expected
    loss = model.loss(out, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    if not model.trainable:
        assert not list(model.parameters())
        return

    params = dict(model.named_parameters())
    assert params
    model.zero_grad()
    loss.backward()
    missing = [n for n, p in params.items() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in params.values())
    assert sum(p.grad.abs().sum() for p in params.values()) > 0

    model.eval()
    with torch.no_grad():
        before = model.loss(model(batch), batch).item()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    optimizer.zero_grad()
    model.loss(model(batch), batch).backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        after = model.loss(model(batch), batch).item()
    assert after != before


def test_emert_intensity_multitask() -> None:
    torch.manual_seed(0)
    model = create_model("emert", make_spec("regression", aux_classes=CLASSES))
    assert (model.cfg.alpha, model.cfg.beta) == (0.3, 0.1)
    batch = make_batch(("face", "eye", "gaze"), "regression")
    batch["aux_target"] = torch.tensor([0, 3, 6, 2])
    out = model(batch)
    assert out["output"].shape == (4,)
    assert out["aux_output"].shape == (4, CLASSES)
    terms = model.loss_terms(out, batch)
    assert set(terms) == {"task", "aux", "invariant", "specific"}
    loss = model.loss(out, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.aux_head.weight.grad is not None
    del batch["aux_target"]
    with pytest.raises(ProtocolError, match="aux_target"):
        model.loss(model(batch), batch)


def test_emert_default_loss_weights_and_discriminators() -> None:
    model = create_model("emert", make_spec("classification"))
    assert (model.cfg.alpha, model.cfg.beta) == (0.01, 0.01)
    assert model.discriminator.out_features == 3
    fixmap = create_model("emert-fixmap", make_spec("classification"))
    assert fixmap.discriminator.out_features == 4
    out = fixmap(make_batch(get_model_entry("emert-fixmap").inputs, "classification"))
    assert out["specific_logits"].shape == (4, 4, 4)  # (modality, batch, modality logits)


def test_overrides_apply_and_unknown_keys_are_refused() -> None:
    model = create_model("emert", make_spec("classification", overrides={"dim": 16, "heads": 1}))
    assert model.cfg.dim == 16 and model.head.in_features == 4
    assert model.train_config.epochs == EMERT_CONFIGS["small"].epochs
    model = create_model("eye-only", make_spec("classification", overrides={"epochs": 3}))
    assert model.train_config.epochs == 3
    with pytest.raises(ProtocolError, match="no_such_key"):
        create_model("face-only", make_spec("classification", overrides={"no_such_key": 1}))


def test_paper_configs_follow_the_reference() -> None:
    spec = ModelSpec(
        task="classification",
        num_outputs=CLASSES,
        config="paper",
        shapes={"eye": (EYE_STEPS, 39), "gaze": (EYE_STEPS, 2)},
    )
    model = create_model("emert", spec)
    train = model.train_config
    assert (train.epochs, train.batch_size, train.lr, train.weight_decay) == (200, 16, 1e-4, 5e-4)
    assert (train.optimizer, train.scheduler) == ("adam", "cosine")
    assert (model.cfg.dim, model.cfg.heads, model.cfg.head_dim, model.cfg.mlp_dim) == (
        128,
        8,
        64,
        32,
    )
    assert model.face.out_features == 512 and model.head.in_features == 32


def test_resnet18_width64_has_the_torchvision_parameter_count() -> None:
    assert sum(p.numel() for p in ResNet18(width=64).parameters()) == 11_176_512


def test_resnet18_resizes_inside_the_encoder() -> None:
    net = ResNet18(width=4, input_size=48).eval()
    frames = torch.rand(2, 3, 112, 112)
    assert net.resize(frames).shape == (2, 3, 48, 48)
    assert net.resize(torch.rand(2, 3, 96, 96)).shape == (2, 3, 48, 48)
    assert net.resize(torch.rand(2, 3, 32, 32)).shape == (2, 3, 48, 48)
    assert net(frames).shape == (2, 32)
    constant = torch.full((1, 3, 112, 112), 0.25)
    assert torch.allclose(net.resize(constant), torch.full((1, 3, 48, 48), 0.25))


def test_gradient_reversal_flips_the_gradient() -> None:
    x = torch.randn(5, requires_grad=True)
    w = torch.randn(5)
    y = GradientReversal(0.5)(x)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -0.5 * w)


def test_late_fusion_output_is_a_log_probability() -> None:
    model = create_model("late-fusion", make_spec("classification")).eval()
    out = model(make_batch(("face", "eye", "gaze"), "classification"))
    assert torch.allclose(out["output"].exp().sum(-1), torch.ones(4), atol=1e-5)


def test_majority_predicts_the_training_majority() -> None:
    model = create_model("majority", make_spec("classification"))
    model.observe_targets(torch.tensor([2, 5, 5, 1, 5]))
    out = model({"target": torch.zeros(3, dtype=torch.long)})["output"]
    assert out.argmax(1).tolist() == [5, 5, 5]
    model = create_model("majority", make_spec("regression"))
    model.observe_targets(torch.tensor([1.0, 2.0, 6.0]))
    assert model({"target": torch.zeros(2)})["output"].tolist() == [3.0, 3.0]


def learnable_batch(inputs: tuple[str, ...], n: int = 32) -> dict[str, torch.Tensor]:
    """Random inputs whose eye features and gaze carry class-dependent means."""
    sizes = {"frames": 2, "frame_size": 48}
    batch = make_batch(inputs, "classification", n=n, seed=1, **sizes)
    g = torch.Generator().manual_seed(2)
    target = torch.arange(n) % CLASSES
    batch["target"] = target
    batch["eye"] += torch.randn(CLASSES, 1, EYE_FEATURES, generator=g)[target]
    batch["gaze"] = 0.2 * batch["gaze"] + (torch.rand(CLASSES, 1, 2, generator=g) - 0.5)[target]
    return batch


@pytest.mark.parametrize("name", ["eye-only", "emert"])
def test_small_models_overfit_a_learnable_batch(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, make_spec("classification", frames=2, frame_size=48))
    batch = learnable_batch(get_model_entry(name).inputs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=model.train_config.lr)
    accuracy = 0.0
    for step in range(1, 101):
        model.train()
        optimizer.zero_grad()
        model.loss(model(batch), batch).backward()
        optimizer.step()
        if step % 20 == 0:
            model.eval()
            with torch.no_grad():
                predicted = model(batch)["output"].argmax(1)
            accuracy = (predicted == batch["target"]).float().mean().item()
            if accuracy >= 0.9:
                break
    assert accuracy >= 0.9, f"{name} reached {accuracy:.0%} training accuracy"
