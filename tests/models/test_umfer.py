"""UMFER and its baselines (visible-only, thermal-privileged, thermal-only): what they read at
test, rows that hold one modality or both, the alternating updates, pairing by seed, the
adaptive weights, the similarity constraint and the overrides.

Tiny networks (ResNet-18 width 4 on 48 px) keep this file fast.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emobench.errors import ProtocolError
from emobench.models.adversarial import AlternatingModel, ImageDecoder, frozen_call
from emobench.models.registry import ModelSpec, create_model, get_model_entry
from emobench.models.thermal_baselines import symmetric_kl
from emobench.models.umfer import UMFER_CONFIGS, transferability_weights

CLASSES = 7
SIDE = 48
TINY = {"width": 4, "input_size": SIDE, "hidden": 16}
TINY_DISC = {"disc_hidden": 16}
MODELS = ("umfer", "visible-only", "thermal-privileged", "thermal-only")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks gain nothing from a second thread, and on a busy machine OpenMP threads
    waiting for each other make a step of a few milliseconds take seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(name: str) -> dict:
    extra = {"umfer": {**TINY_DISC, "decoder_channels": 8}, "thermal-privileged": TINY_DISC}
    return {**TINY, **extra.get(name, {})}


def build(name: str, seed: int = 0, **overrides) -> AlternatingModel:
    torch.manual_seed(seed)
    spec = ModelSpec(
        task="classification",
        num_outputs=CLASSES,
        config="small",
        frame_size=SIDE,
        shapes={"visible": (1, SIDE, SIDE, 3), "thermal": (1, SIDE, SIDE, 1)},
        overrides={**tiny(name), **overrides},
    )
    return create_model(name, spec)


def batch(
    n: int = 12,
    visible: list[bool] | None = None,
    thermal: list[bool] | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """A training batch; ``visible`` / ``thermal``: which rows hold that image (None: all).
    Rows lacking an image hold zeros, as the engine's blank stand-ins do."""
    g = torch.Generator().manual_seed(seed)
    out = {
        "visible": torch.rand(n, 3, SIDE, SIDE, generator=g),
        "thermal": torch.randn(n, 1, SIDE, SIDE, generator=g),
        "target": torch.randint(0, CLASSES, (n,), generator=g),
    }
    for name, rows in (("visible", visible), ("thermal", thermal)):
        if rows is not None:
            present = torch.tensor(rows)
            out[name][~present] = 0.0
            out[f"{name}_present"] = present
    return out


def mixed(n: int = 12) -> dict[str, torch.Tensor]:
    """Rows holding visible only, thermal only, and both (a third each)."""
    kind = [i % 3 for i in range(n)]  # 0 visible only, 1 thermal only, 2 both
    return batch(n, visible=[k != 1 for k in kind], thermal=[k != 0 for k in kind])


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def networks_of(model: AlternatingModel) -> dict[str, torch.nn.Module]:
    parts = dict(model.networks.items())
    if getattr(model, "decoder", None) is not None:
        parts["decoder"] = model.decoder
    return parts


# ---------------------------------------------------------------- registration, test time


def test_registered_inputs() -> None:
    for name in ("umfer", "thermal-privileged"):
        entry = get_model_entry(name)
        assert entry.inputs == ("visible", "thermal")
        assert entry.reads_at_test == ("visible",)
        assert entry.tasks == ("classification",)
    assert get_model_entry("visible-only").reads_at_test == ("visible",)
    assert get_model_entry("thermal-only").inputs == ("thermal",)
    assert get_model_entry("thermal-only").reads_at_test == ("thermal",)


@pytest.mark.parametrize("name", ["umfer", "thermal-privileged", "visible-only"])
def test_test_time_reads_visible_only(name: str) -> None:
    model = build(name).eval()
    full = batch(6)
    test = {"visible": full["visible"], "target": full["target"]}
    with torch.no_grad():
        out = model(test)
        with_thermal = model(full)["output"]
    assert out["output"].shape == (6, CLASSES)
    assert out["features"].shape == (6, TINY["hidden"])
    assert not any(k.startswith("thermal") for k in out)  # the thermal network did not run
    assert torch.equal(out["output"], with_thermal)  # thermal has no say in the prediction


def test_thermal_only_reads_thermal() -> None:
    model = build("thermal-only").eval()
    b = batch(5)
    with torch.no_grad():
        out = model({"thermal": b["thermal"], "target": b["target"]})
    assert out["output"].shape == (5, CLASSES)
    assert torch.isfinite(model.loss(out, b))


# ---------------------------------------------------------------- rows and training steps


@pytest.mark.parametrize("name", MODELS)
def test_train_step_on_mixed_rows(name: str) -> None:
    model = build(name).train()
    optimizers = model.optimizers(3)
    nets = {k: snapshot(v) for k, v in networks_of(model).items()}
    discs = snapshot(model.discriminators)
    loss = model.train_step(mixed(), optimizers)
    assert isinstance(loss, float) and torch.isfinite(torch.tensor(loss))
    assert all(changed(nets[k], v) for k, v in networks_of(model).items())
    if name in ("umfer", "thermal-privileged"):
        assert len(model.discriminators) and changed(discs, model.discriminators)
    for p in model.parameters():
        assert torch.isfinite(p).all()


@pytest.mark.parametrize("name", ["umfer", "thermal-privileged"])
def test_batches_without_one_modality(name: str) -> None:
    model = build(name).train()
    optimizers = model.optimizers(3)
    no_thermal = batch(6, visible=[True] * 6, thermal=[False] * 6)
    no_visible = batch(6, visible=[False] * 6, thermal=[True] * 6)
    no_thermal_key = {k: v for k, v in batch(6).items() if not k.startswith("thermal")}
    for b, idle in ((no_thermal, "thermal"), (no_visible, "visible"), (no_thermal_key, "thermal")):
        before = snapshot(model.networks[idle])
        discs = snapshot(model.discriminators)
        out = model(b)
        terms = model.loss_terms(out, b)
        assert terms[f"{idle}_ce"] is None  # skipped, not NaN
        assert all(torch.isfinite(t) for t in terms.values() if t is not None)
        assert torch.isfinite(model.loss(out, b))
        loss = model.train_step(b, optimizers)
        assert torch.isfinite(torch.tensor(loss))
        assert not changed(before, model.networks[idle])  # its BatchNorm saw no blank either
        assert changed(discs, model.discriminators)  # one side is still a lesson
        for p in model.parameters():
            assert torch.isfinite(p).all()
    out = model(no_visible)
    assert out["output"].shape == (6, CLASSES) and not out["visible_rows"].any()


def test_blank_rows_never_reach_a_network() -> None:
    model = build("umfer").train()
    b = mixed()
    poisoned = dict(b)
    poisoned["visible"] = b["visible"].clone()
    poisoned["visible"][~b["visible_present"]] = float("nan")
    poisoned["thermal"] = b["thermal"].clone()
    poisoned["thermal"][~b["thermal_present"]] = float("nan")
    torch.manual_seed(1)
    out = model(poisoned)
    assert torch.isfinite(model.loss(out, poisoned))
    assert torch.isfinite(out["output"]).all()


def test_the_two_optimizers_alternate() -> None:
    model = build("umfer").train()
    (net_opt, net_sched), (disc_opt, disc_sched) = model.optimizers(4)
    net_ids = {id(p) for g in net_opt.param_groups for p in g["params"]}
    disc_ids = {id(p) for g in disc_opt.param_groups for p in g["params"]}
    assert not net_ids & disc_ids
    assert net_ids | disc_ids == {id(p) for p in model.parameters()}
    assert disc_ids == {id(p) for p in model.discriminators.parameters()}
    assert disc_opt.param_groups[0]["lr"] == model.cfg.disc_lr
    assert net_sched is not None and disc_sched is not None  # cosine for both

    b = mixed()
    nets, discs = snapshot(model.networks), snapshot(model.discriminators)
    decoder = snapshot(model.decoder)
    model.discriminator_step(model(b), b, disc_opt)
    assert changed(discs, model.discriminators)
    assert not changed(decoder, model.decoder)
    # the forward pass updates BatchNorm running statistics; the weights did not move
    weights = {k for k, _ in model.networks.named_parameters()}
    after = model.networks.state_dict()
    assert all(torch.equal(nets[k], after[k]) for k in weights)

    discs = snapshot(model.discriminators)
    nets = snapshot(model.networks)
    model.network_step(model(b), b, net_opt)
    assert not changed(discs, model.discriminators)
    after = model.networks.state_dict()
    assert any(not torch.equal(nets[k], after[k]) for k in weights)


def test_frozen_call_keeps_the_gradient_off_the_module() -> None:
    disc = torch.nn.Linear(3, 1)
    x = torch.randn(4, 3, requires_grad=True)
    frozen_call(disc, x).sum().backward()
    assert x.grad is not None and disc.weight.grad is None
    assert torch.allclose(frozen_call(disc, x), disc(x))


def test_umfer_uses_no_pairing() -> None:
    """Shuffling which thermal image sits beside which visible image changes nothing in
    UMFER's losses; it changes thermal-privileged's similarity term."""
    b = batch(8)
    perm = torch.tensor([3, 0, 6, 1, 7, 2, 5, 4])
    shuffled = {**b, "thermal": b["thermal"][perm]}
    model = build("umfer", dropout=0.0).eval()  # eval: BatchNorm reads no batch statistics
    with torch.no_grad():
        base = model.loss_terms(model(b), b)
        other = model.loss_terms(model(shuffled), shuffled)
    # (thermal_ce moves: the thermal images now sit beside other rows' labels)
    for key in ("visible_ce", "feat", "pred", "rec"):
        assert other[key].item() == pytest.approx(base[key].item(), rel=1e-5, abs=1e-7)
    # thermal-privileged ties each row's two outputs together: the pairing matters to it
    privileged = build("thermal-privileged")
    g = torch.Generator().manual_seed(5)
    out = {
        "output": torch.randn(8, CLASSES, generator=g),
        "thermal_output": torch.randn(8, CLASSES, generator=g),
        "features": torch.randn(8, TINY["hidden"], generator=g),
        "thermal_features": torch.randn(8, TINY["hidden"], generator=g),
        "visible_rows": torch.ones(8, dtype=torch.bool),
        "thermal_rows": torch.ones(8, dtype=torch.bool),
    }
    repaired = {**out, "thermal_output": out["thermal_output"][perm]}
    paired = privileged.loss_terms(out, b)["sim"].item()
    assert paired == pytest.approx(symmetric_kl(out["output"], out["thermal_output"]).mean().item())
    assert privileged.loss_terms(repaired, b)["sim"].item() != pytest.approx(paired, rel=1e-3)


# ---------------------------------------------------------------- pairing by seed


@pytest.mark.parametrize("other", ["umfer", "thermal-privileged"])
def test_visible_networks_start_identical_under_one_seed(other: str) -> None:
    reference = build("visible-only", seed=3).networks["visible"].state_dict()
    paired = build(other, seed=3).networks["visible"].state_dict()
    assert reference.keys() == paired.keys()
    assert all(torch.equal(reference[k], paired[k]) for k in reference)
    different = build(other, seed=4).networks["visible"].state_dict()
    assert not all(torch.equal(reference[k], different[k]) for k in reference)


def test_thermal_network_reads_one_channel() -> None:
    model = build("umfer")
    assert model.networks["visible"].trunk.conv1.in_channels == 3
    assert model.networks["thermal"].trunk.conv1.in_channels == 1


# ---------------------------------------------------------------- UMFER's terms


def test_adaptive_weights_have_mean_one_and_favour_undecided_rows() -> None:
    probabilities = torch.tensor([0.5, 0.6, 0.9, 0.1, 0.999])
    w = transferability_weights(torch.logit(probabilities))
    assert w.mean().item() == pytest.approx(1.0)
    assert w.argmax().item() == 0  # the discriminator cannot tell: most transferable
    assert w[1] > w[2] > w[4]
    assert w[2].item() == pytest.approx(w[3].item(), rel=1e-5)  # symmetric in d and 1 − d
    raw = 1 + (1 - (2 * probabilities - 1).abs())
    assert torch.allclose(w, raw / raw.mean())
    assert not transferability_weights(torch.zeros(3, requires_grad=True)).requires_grad


def test_adaptive_switch_and_loss_weights() -> None:
    b = mixed()
    on = build("umfer", dropout=0.0).eval()
    off = build("umfer", dropout=0.0, adaptive=False).eval()
    with torch.no_grad():
        out = off(b)
        rows = b["visible_present"]
        plain = F.cross_entropy(out["output"][rows], b["target"][rows])
        assert off.loss_terms(out, b)["visible_ce"].item() == pytest.approx(plain.item(), rel=1e-6)
        out_on = on(b)
        terms = on.loss_terms(out_on, b)
        logits = on.discriminators["feat"](out_on["features"][rows])
        ce = F.cross_entropy(out_on["output"][rows], b["target"][rows], reduction="none")
        weighted = (transferability_weights(logits) * ce).mean()
        assert terms["visible_ce"].item() == pytest.approx(weighted.item(), rel=1e-5)
        c = on.cfg
        expected = (
            terms["visible_ce"]
            + terms["thermal_ce"]
            + c.lambda_feat * terms["feat"]
            + c.lambda_pred * terms["pred"]
            + c.lambda_rec * terms["rec"]
        )
        assert on.network_loss(out_on, b).item() == pytest.approx(expected.item(), rel=1e-5)
        assert terms["feat"] >= 0 and terms["pred"] >= 0 and terms["rec"] > 0


def test_ablations_drop_their_modules() -> None:
    model = build("umfer", lambda_pred=0.0, lambda_rec=0.0)
    assert set(model.discriminators) == {"feat"} and model.decoder is None
    bare = build("umfer", lambda_pred=0.0, lambda_rec=0.0, lambda_feat=0.0, adaptive=False)
    assert not len(bare.discriminators)
    assert len(bare.optimizers(2)) == 1
    b = mixed()
    assert torch.isfinite(torch.tensor(bare.train_step(b, bare.optimizers(2))))


def test_decoder_rebuilds_the_image_at_the_input_size() -> None:
    for size in (48, 64, 112):
        decoder = ImageDecoder(16, size, 8)
        image = decoder(torch.randn(2, 16))
        assert image.shape == (2, 3, size, size)
        assert image.min() >= 0 and image.max() <= 1
    model = build("umfer")
    assert model.decoder.size == SIDE


def test_discriminator_loss_separates_the_modalities() -> None:
    """The discriminators' loss falls when they are trained alone on fixed features."""
    model = build("umfer").train()
    b = mixed()
    out = {k: v.detach() for k, v in model(b).items()}
    opt = torch.optim.Adam(model.discriminators.parameters(), lr=1e-2)
    first = model.discriminator_loss(out, b).item()
    for _ in range(30):
        model.discriminator_step(out, b, opt)
    assert model.discriminator_loss(out, b).item() < 0.5 * first


# ---------------------------------------------------------------- thermal-privileged


def test_similarity_is_zero_when_the_outputs_agree() -> None:
    z = torch.randn(5, CLASSES)
    assert torch.allclose(symmetric_kl(z, z), torch.zeros(5), atol=1e-7)
    assert torch.allclose(symmetric_kl(z, z + 3.0), torch.zeros(5), atol=1e-6)  # same softmax
    other = torch.randn(5, CLASSES)
    assert (symmetric_kl(z, other) > 0).all()
    assert torch.allclose(symmetric_kl(z, other), symmetric_kl(other, z))
    p, q = F.softmax(z, -1), F.softmax(other, -1)
    direct = 0.5 * ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1))
    assert torch.allclose(symmetric_kl(z, other), direct, atol=1e-6)

    model = build("thermal-privileged")
    b = mixed()
    agree = {
        "output": z.repeat(3, 1)[:12],
        "thermal_output": z.repeat(3, 1)[:12].clone(),
        "features": torch.randn(12, TINY["hidden"]),
        "thermal_features": torch.randn(12, TINY["hidden"]),
        "visible_rows": b["visible_present"],
        "thermal_rows": b["thermal_present"],
    }
    assert model.loss_terms(agree, b)["sim"].item() == pytest.approx(0.0, abs=1e-6)
    # only rows holding both images count: disagreement elsewhere changes nothing
    lonely = ~(b["visible_present"] & b["thermal_present"])
    agree["thermal_output"][lonely] = torch.randn(int(lonely.sum()), CLASSES)
    assert model.loss_terms(agree, b)["sim"].item() == pytest.approx(0.0, abs=1e-6)
    # no row holds both: the term is skipped
    apart = batch(6, visible=[True, False] * 3, thermal=[False, True] * 3)
    assert model.loss_terms(model(apart), apart)["sim"] is None


def test_privileged_without_the_adversarial_term_has_one_optimizer() -> None:
    model = build("thermal-privileged", lambda_feat=0.0)
    assert not len(model.discriminators) and len(model.optimizers(2)) == 1
    assert torch.isfinite(torch.tensor(model.train_step(batch(6), model.optimizers(2))))


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize("name", MODELS)
def test_overrides_apply_and_unknown_keys_are_refused(name: str) -> None:
    model = build(name, epochs=3)
    assert model.train_config.epochs == 3 and model.cfg.width == TINY["width"]
    with pytest.raises(ProtocolError, match="no_such_key"):
        build(name, no_such_key=1)


def test_umfer_overrides_reach_the_losses_and_optimizers() -> None:
    model = build("umfer", lambda_feat=0.5, lambda_pred=0.2, lambda_rec=0.0, disc_lr=3e-4)
    assert (model.cfg.lambda_feat, model.cfg.lambda_pred, model.cfg.lambda_rec) == (0.5, 0.2, 0.0)
    assert model.optimizers(2)[1][0].param_groups[0]["lr"] == 3e-4
    with pytest.raises(ProtocolError, match="lambda_feat"):
        build("umfer", lambda_feat=-1.0)
    with pytest.raises(ProtocolError, match="width"):
        build("visible-only", width=0)


def test_small_and_paper_configs() -> None:
    small, paper = UMFER_CONFIGS["small"], UMFER_CONFIGS["paper"]
    assert (small.width, small.input_size, small.hidden) == (16, 64, 128)
    assert (small.epochs, small.batch_size, small.lr, small.optimizer) == (15, 32, 1e-3, "adam")
    assert (paper.width, paper.input_size) == (64, 112)
