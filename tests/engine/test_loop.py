"""The training step is the model's: a model with two optimizers alternates its updates."""

import numpy as np
import pytest
import torch
from torch import nn

from emobench.engine import evaluate
from emobench.models.base import EmobenchModel
from emobench.models.configs import TrainSettings
from emobench.models.registry import MODELS, ModelEntry
from emobench.pack import Pack
from emobench.protocols import load_protocol


class TwoNetworks(EmobenchModel):
    """A classifier and a critic with one optimizer each; train_step updates them in turn."""

    steps: list[str]

    def __init__(self, spec):
        train = TrainSettings(
            epochs=2, batch_size=16, lr=1e-2, weight_decay=0.0, optimizer="adam", scheduler="none"
        )
        super().__init__(spec, None, train)
        width = spec.shapes["eye"][-1]
        self.classifier = nn.Linear(width, spec.num_outputs)
        self.critic = nn.Linear(width, 1)
        TwoNetworks.steps = []

    def forward(self, batch):
        x = batch["eye"].mean(1)
        return {"output": self.classifier(x), "critic": self.critic(x)}

    def optimizers(self, epochs):
        return [
            (torch.optim.SGD(self.classifier.parameters(), lr=0.1), None),
            (torch.optim.SGD(self.critic.parameters(), lr=0.1), None),
        ]

    def train_step(self, batch, optimizers):
        (clf, _), (critic, _) = optimizers
        which = len(TwoNetworks.steps) % 2
        out = self(batch)
        if which == 0:
            loss = self.task_loss(out["output"], batch["target"])
            opt, name = clf, "classifier"
        else:
            loss = out["critic"].pow(2).mean()
            opt, name = critic, "critic"
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        TwoNetworks.steps.append(name)
        return float(loss.detach())


def test_a_model_alternates_its_own_optimizers(emer_pack, monkeypatch):
    entry = ModelEntry("two-networks", TwoNetworks, ("eye",), ("classification",), "test")
    monkeypatch.setitem(MODELS._entries, "two-networks", entry)
    record, _ = evaluate(load_protocol("p3"), "two-networks", Pack(emer_pack), folds=[1])
    steps = TwoNetworks.steps
    assert len(steps) > 2 and steps[0::2] == ["classifier"] * len(steps[0::2])
    assert steps[1::2] == ["critic"] * len(steps[1::2])
    assert record["folds"][0]["epochs_run"] == 2
    assert np.isfinite(record["folds"][0]["selection_score"])


def test_default_step_is_one_optimizer_on_the_loss():
    from emobench.models.registry import ModelSpec, create_model

    spec = ModelSpec(task="classification", num_outputs=3, shapes={"eye": (4, 5), "gaze": (4, 2)})
    model = create_model("eye-only", spec)
    ((opt, sched),) = model.optimizers(7)
    assert sched.T_max == 7 and opt.param_groups[0]["lr"] == model.train_config.lr
    batch = {
        "eye": torch.randn(6, 4, 5),
        "gaze": torch.randn(6, 4, 2),
        "target": torch.tensor([0, 1, 2, 0, 1, 2]),
    }
    before = [p.detach().clone() for p in model.parameters()]
    loss = model.train_step(batch, [(opt, sched)])
    assert loss > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with pytest.raises(ValueError):
        model.train_step(batch, [(opt, sched), (opt, sched)])
