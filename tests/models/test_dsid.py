"""DSID and the apex/clip models; HSIC against a direct numpy implementation.

``tests/models/test_models.py`` builds its random batches only for the inputs ``face``,
``eye``, ``gaze`` and ``fixmap`` and without an auxiliary label, so the registry-wide
forward/backward/step check is repeated here for the models that read ``apex`` or ``clip``
(and, for ``dsid``/``apex-two-head``, need ``aux_target``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from emobench.errors import ProtocolError
from emobench.models.dsid import Dsid, gaussian_gram, hsic
from emobench.models.registry import ModelSpec, create_model, get_model_entry

CLASSES = 7
AUX = 6
SIZES = {"frames": 8, "frame_size": 112}
APEX_MODELS = ("dsid", "apex-two-head", "apex-single", "clip-baseline")
TASKS = {"classification": CLASSES, "regression": 1}


def make_spec(task: str = "classification", **kwargs) -> ModelSpec:
    kwargs = {"aux_classes": AUX, **SIZES, **kwargs}
    return ModelSpec(task=task, num_outputs=TASKS[task], config="small", **kwargs)


def make_batch(
    inputs: tuple[str, ...], task: str = "classification", n: int = 4, seed: int = 0, **sizes
) -> dict[str, torch.Tensor]:
    """Random ``apex`` (B, 3, H, W) / ``clip`` (B, T, 3, H, W) in 0..1, targets, aux targets."""
    g = torch.Generator().manual_seed(seed)
    s = {**SIZES, **sizes}
    t, side = s["frames"], s["frame_size"]
    makers = {
        "apex": lambda: torch.rand(n, 3, side, side, generator=g),
        "clip": lambda: torch.rand(n, t, 3, side, side, generator=g),
    }
    batch = {name: makers[name]() for name in inputs}
    if task == "classification":
        batch["target"] = torch.randint(0, CLASSES, (n,), generator=g)
    else:
        batch["target"] = torch.rand(n, generator=g) * 2 - 1
    batch["aux_target"] = torch.randint(0, AUX, (n,), generator=g)
    return batch


# ---------------------------------------------------------------- HSIC


def numpy_hsic(x: np.ndarray, y: np.ndarray, bandwidth="median") -> float:
    """Straight from the definition: tr(K H L H) / (m − 1)², Gaussian kernels."""
    m = x.shape[0]

    def gram(z: np.ndarray) -> np.ndarray:
        d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
        if bandwidth == "median":
            sigma = np.median(np.sqrt(d2[np.triu_indices(m, 1)]))
        else:
            sigma = bandwidth
        return np.exp(-d2 / (2 * sigma**2))

    h = np.eye(m) - np.ones((m, m)) / m
    return float(np.trace(gram(x) @ h @ gram(y) @ h) / (m - 1) ** 2)


def test_hsic_matches_the_definition() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = np.tanh(x[:, :3]) + 0.3 * rng.normal(size=(40, 3))
    for bandwidth in ("median", 0.7, 3.0):
        ours = hsic(torch.from_numpy(x), torch.from_numpy(y), bandwidth).item()
        assert ours == pytest.approx(numpy_hsic(x, y, bandwidth), rel=1e-9)


def test_hsic_separates_dependent_from_independent_samples() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g, dtype=torch.float64)
    independent = hsic(x, torch.randn(200, 2, generator=g, dtype=torch.float64)).item()
    noisy = hsic(x, x**2 + 0.3 * torch.randn(200, 2, generator=g, dtype=torch.float64)).item()
    identical = hsic(x, x).item()
    assert 0 <= independent < 0.1 * noisy
    assert noisy < identical
    # non-linear dependence without correlation is still seen
    u = torch.rand(300, 1, generator=g, dtype=torch.float64) * 4 - 2
    v = u**2 + 0.1 * torch.randn(300, 1, generator=g, dtype=torch.float64)
    assert abs(np.corrcoef(u[:, 0], v[:, 0])[0, 1]) < 0.25
    assert hsic(u, v).item() > 10 * hsic(u, torch.rand_like(v)).item()


def test_hsic_is_symmetric_and_invariant_to_a_joint_permutation() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 4, generator=g)
    y = x[:, :2].exp() + torch.randn(50, 2, generator=g)
    value = hsic(x, y)
    assert hsic(y, x).item() == pytest.approx(value.item(), rel=1e-5)
    perm = torch.randperm(50, generator=g)
    assert hsic(x[perm], y[perm]).item() == pytest.approx(value.item(), rel=1e-5)
    # permuting only one side breaks the pairing and the dependence with it
    assert hsic(x, y[perm]).item() < 0.5 * value.item()


def test_hsic_checks_its_inputs_and_is_differentiable() -> None:
    x = torch.randn(8, 3, requires_grad=True)
    y = torch.randn(8, 3)
    hsic(x, y).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="paired"):
        hsic(torch.randn(5, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        hsic(torch.randn(1, 2), torch.randn(1, 2))
    with pytest.raises(ValueError, match="positive"):
        hsic(x, y, bandwidth=0.0)
    with pytest.raises(ValueError, match="median"):
        hsic(x, y, bandwidth="mean")
    # identical rows: the median distance is 0, the bandwidth falls back to 1
    assert torch.allclose(gaussian_gram(torch.ones(4, 3)), torch.ones(4, 4))


# ---------------------------------------------------------------- models


# Forward, backward and an optimizer step of every model: tests/models/test_models.py.


def test_model_inputs_and_outputs() -> None:
    assert get_model_entry("dsid").inputs == ("apex",)
    assert get_model_entry("apex-two-head").inputs == ("apex",)
    assert get_model_entry("apex-single").inputs == ("apex",)
    assert get_model_entry("clip-baseline").inputs == ("clip",)
    model = create_model("dsid", make_spec())
    out = model(make_batch(("apex",)))
    assert out["aux_output"].shape == (4, AUX)
    assert out["features"].shape == out["features_disguise"].shape == (4, 64)
    terms = model.loss_terms(out, make_batch(("apex",)))
    assert set(terms) == {"true", "displayed", "hsic"}
    # a clip of another length and frames of another size still go through
    clip = create_model("clip-baseline", make_spec()).eval()
    assert clip(make_batch(("clip",), frames=3, frame_size=64))["output"].shape == (4, CLASSES)


def test_dsid_loss_is_the_decoupling_loss_group() -> None:
    torch.manual_seed(0)
    model = create_model("dsid", make_spec(overrides={"hsic_weight": 2.5})).eval()
    batch = make_batch(("apex",), n=6)
    out = model(batch)
    terms = model.loss_terms(out, batch)
    expected = terms["true"] + terms["displayed"] + 2.5 * terms["hsic"]
    assert model.loss(out, batch).item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms["hsic"].item() == pytest.approx(
        hsic(out["features"], out["features_disguise"]).item(), rel=1e-6
    )
    one = {k: v[:1] for k, v in batch.items()}  # a last batch of one sample
    assert model.loss_terms(model(one), one)["hsic"].item() == 0.0
    del batch["aux_target"]
    with pytest.raises(ProtocolError, match="aux_target"):
        model.loss(out, batch)


def test_dsid_needs_the_displayed_expression_label() -> None:
    for name in ("dsid", "apex-two-head"):
        with pytest.raises(ProtocolError, match="aux_classes"):
            create_model(name, make_spec(aux_classes=0))
    # the single-stream models ignore it
    create_model("apex-single", make_spec(aux_classes=0))
    create_model("clip-baseline", make_spec(aux_classes=0))


def test_apex_two_head_is_dsid_without_hsic() -> None:
    ablation = create_model("apex-two-head", make_spec())
    full = create_model("dsid", make_spec())
    assert type(ablation) is type(full) is Dsid
    assert ablation.cfg.hsic_weight == 0.0 < full.cfg.hsic_weight
    assert replace(full.cfg, hsic_weight=0.0) == ablation.cfg  # nothing else differs
    assert sum(p.numel() for p in ablation.parameters()) == sum(
        p.numel() for p in full.parameters()
    )
    batch = make_batch(("apex",))
    ablation.eval()
    out = ablation(batch)
    terms = ablation.loss_terms(out, batch)
    assert ablation.loss(out, batch).item() == pytest.approx(
        (terms["true"] + terms["displayed"]).item(), rel=1e-6
    )


def _trained_true_logits(name: str, steps: int = 3, **overrides) -> torch.Tensor:
    """``name`` built and trained ``steps`` AdamW steps (dropout on) under seed 7; then its
    true-emotion logits on a fresh batch."""
    torch.manual_seed(7)
    model = create_model(name, make_spec(overrides=overrides))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        batch = make_batch(("apex",), n=6, seed=step, frame_size=56)
        loss = model.loss(model(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return model.eval()(make_batch(("apex",), n=6, seed=99, frame_size=56))["output"]


def test_the_apex_models_are_paired_by_seed() -> None:
    """Under one seed the ablation's true stream *is* the single stream (same weights, same
    dropout masks, no other coupling with separate trunks), so dsid differs from both by the
    HSIC term alone."""
    single = _trained_true_logits("apex-single")
    assert torch.equal(_trained_true_logits("apex-two-head"), single)
    assert not torch.equal(_trained_true_logits("dsid"), single)  # HSIC moves the true stream
    # a shared trunk is also trained by the displayed expression's loss: no longer the same
    assert not torch.equal(_trained_true_logits("apex-two-head", shared_backbone=True), single)
    # the disguise stream's dropout does not draw from the global generator
    torch.manual_seed(3)
    model = create_model("dsid", make_spec()).train()
    state = torch.get_rng_state()
    model.dropout_disguise(torch.ones(4, 8))
    assert torch.equal(torch.get_rng_state(), state)


def test_overrides_and_backbone_sharing() -> None:
    shared = create_model("dsid", make_spec(overrides={"shared_backbone": True}))
    separate = create_model("dsid", make_spec(overrides={"shared_backbone": False}))
    assert shared.trunk_disguise is None and separate.trunk_disguise is not None
    trunk = sum(p.numel() for p in separate.trunk_disguise.parameters())
    assert sum(p.numel() for p in separate.parameters()) == trunk + sum(
        p.numel() for p in shared.parameters()
    )
    separate(make_batch(("apex",)))
    model = create_model("dsid", make_spec(overrides={"hsic_bandwidth": 2.0, "epochs": 3}))
    assert model.cfg.hsic_bandwidth == 2.0 and model.train_config.epochs == 3
    with pytest.raises(ProtocolError, match="hsic_bandwidth"):
        create_model("dsid", make_spec(overrides={"hsic_bandwidth": "silverman"}))
    with pytest.raises(ProtocolError, match="hsic_weight"):
        create_model("dsid", make_spec(overrides={"hsic_weight": -1.0}))
    with pytest.raises(ProtocolError, match="no_such_key"):
        create_model("apex-single", make_spec(overrides={"no_such_key": 1}))
    with pytest.raises(ProtocolError, match="hsic_weight"):  # not a single-stream setting
        create_model("clip-baseline", make_spec(overrides={"hsic_weight": 1.0}))


@pytest.mark.parametrize("config", ["paper", "small"])
def test_the_apex_models_differ_only_in_what_they_compare(config: str) -> None:
    """In each configuration the four models train alike and build their streams alike; dsid
    and its ablation differ by the HSIC weight alone and have two trunks (the literal dual
    stream); the paper-sized trunk is a real ResNet-18."""
    spec = ModelSpec(task="classification", num_outputs=CLASSES, config=config, aux_classes=AUX)
    with torch.device("meta"):
        models = {name: create_model(name, spec) for name in APEX_MODELS}
    recipes = {name: m.train_config for name, m in models.items()}
    assert all(r == recipes["dsid"] for r in recipes.values()), recipes
    streams = {
        name: (m.cfg.width, m.cfg.input_size, m.cfg.dim, m.cfg.dropout)
        for name, m in models.items()
    }
    assert len(set(streams.values())) == 1, streams
    full, ablation = models["dsid"], models["apex-two-head"]
    assert replace(full.cfg, hsic_weight=0.0) == ablation.cfg and full.cfg.hsic_weight > 0
    assert full.trunk_disguise is not None and ablation.trunk_disguise is not None
    if config == "paper":
        # torchvision's ResNet-18 trunk, Linear(512, 256), a 7-way head
        expected = 11_176_512 + (512 * 256 + 256) + (256 * CLASSES + CLASSES)
        assert sum(p.numel() for p in models["apex-single"].parameters()) == expected


def correlated_batch(n: int = 32) -> dict[str, torch.Tensor]:
    """Apex images that show the displayed label strongly and the true label faintly; the two
    labels agree in most samples, so both streams are tempted to learn the same thing."""
    g = torch.Generator().manual_seed(3)
    true = torch.arange(n) % AUX
    displayed = torch.where(torch.rand(n, generator=g) < 0.75, true, (true + 1) % AUX)
    palette = torch.rand(AUX, 3, generator=g)
    x = torch.rand(n, 3, 56, 56, generator=g) * 0.3
    x[:, :, 36:52, 8:48] += palette[displayed][:, :, None, None]
    x[:, :, 6:14, 8:48] += 0.5 * palette[true][:, :, None, None]
    return {"apex": x.clamp(0, 1), "target": true, "aux_target": displayed}


def hsic_during_training(weight: float, steps: int = 12) -> tuple[float, float]:
    """Mean HSIC of the two features and mean CE(true) + CE(displayed) over the last 4 of
    ``steps`` full-batch training steps (train mode: the features the loss sees)."""
    torch.manual_seed(0)
    # one shared trunk: the effect is clearest there (two trunks show it too, more weakly)
    overrides = {"hsic_weight": weight, "shared_backbone": True}
    model = create_model("dsid", make_spec(frame_size=56, overrides=overrides))
    batch = correlated_batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=model.train_config.lr)
    dependence, ce = [], []
    for _ in range(steps):
        model.train()
        optimizer.zero_grad()
        out = model(batch)
        terms = model.loss_terms(out, batch)
        dependence.append(terms["hsic"].item())
        ce.append((terms["true"] + terms["displayed"]).item())
        model.loss(out, batch).backward()
        optimizer.step()
    return float(np.mean(dependence[-4:])), float(np.mean(ce[-4:]))


def test_the_hsic_term_makes_the_two_features_more_independent() -> None:
    # with λ = 0 the two streams of this batch grow dependent as they learn the
    # (correlated) labels; the HSIC term holds that back
    without, ce_without = hsic_during_training(0.0)
    with_hsic, _ = hsic_during_training(10.0)
    assert with_hsic < 0.8 * without
    assert ce_without < np.log(CLASSES) + np.log(AUX)  # both heads learn (chance at start)


def test_clip_baseline_attends_over_the_change_since_the_onset() -> None:
    """Frames minus the onset frame, per-frame features, attention weights summing to 1 over
    time; the same clip shifted in brightness (a constant added) gives the same output."""
    torch.manual_seed(0)
    model = create_model("clip-baseline", make_spec()).eval()
    batch = make_batch(("clip",), frames=5)
    clip = batch["clip"]
    with torch.no_grad():
        per_frame = model.encoder(clip[:, 1:] - clip[:, :1])
        weights = model.pool.weights(per_frame)
        assert weights.shape == (clip.shape[0], 4)
        assert torch.allclose(weights.sum(1), torch.ones(clip.shape[0]))
        pooled = (weights.unsqueeze(-1) * per_frame).sum(1)
        expected = model.head(model.stream(pooled))
        assert torch.allclose(model(batch)["output"], expected, atol=1e-6)
        shifted = model({"clip": clip + 0.25})["output"]
        assert torch.allclose(shifted, expected, atol=1e-5)
    with pytest.raises(ProtocolError, match="at least 2 frames"):
        model({"clip": clip[:, :1]})
