"""Parameter and FLOP counting (`emobench models --flops`): the convention and the table."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from emobench.cli import app
from emobench.models.complexity import (
    Complexity,
    complexity_table,
    is_clip_model,
    measure,
)
from emobench.models.registry import CONFIGS, ModelSpec, create_model, model_names


def test_one_multiply_add_is_one_flop(monkeypatch) -> None:
    """A model of one Linear and one Conv3d: the count is their multiply-adds, exactly."""
    import emobench.models.complexity as complexity

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv3d(3, 4, (1, 3, 3), padding=(0, 1, 1))
            self.fc = torch.nn.Linear(4, 5)

        def forward(self, batch):
            x = self.conv(batch["face"].transpose(1, 2))  # (1, 4, T, H, W)
            return {"output": self.fc(x.mean((2, 3, 4)))}

    flops = complexity._count(Tiny(), {"face": torch.zeros(1, 2, 3, 6, 6)})
    assert flops == 2 * 6 * 6 * 4 * (3 * 3 * 3) + 4 * 5  # conv MACs + linear MACs


def test_attention_products_are_counted() -> None:
    import emobench.models.complexity as complexity

    class Attend(torch.nn.Module):
        def forward(self, batch):
            q = batch["face"].reshape(1, 10, 6)
            return {"output": (q @ q.transpose(1, 2)).softmax(-1) @ q}

    assert complexity._count(Attend(), {"face": torch.zeros(1, 60)}) == 2 * 10 * 10 * 6


def test_meta_and_cpu_counts_agree_for_small_ifdd() -> None:
    row = measure("ifdd", "small")
    torch.manual_seed(0)
    spec = ModelSpec(task="classification", num_outputs=7, config="small", frames=16)
    model = create_model("ifdd", spec).eval()
    import emobench.models.complexity as complexity

    cpu = complexity._count(model, {"face": torch.rand(1, 16, 3, 112, 112)})
    assert row.flops == cpu
    assert row.params == sum(p.numel() for p in model.parameters())


def test_table_covers_every_model() -> None:
    rows = complexity_table()
    by_model: dict[str, list[Complexity]] = {}
    for row in rows:
        by_model.setdefault(row.model, []).append(row)
    assert set(by_model) == set(model_names())
    for name, entries in by_model.items():
        if is_clip_model(name):
            assert sorted(r.config for r in entries) == sorted(CONFIGS)
            assert all(r.params > 0 and r.flops > 0 and r.frames == 16 for r in entries)
            sides = {r.config: r.side for r in entries}
            assert sides == {"paper": 224, "small": 112}
        else:
            assert len(entries) == 1 and entries[0].flops is None and entries[0].params is None
    assert {"ifdd", "static-resnet18", "r2plus1d", "face-only"} <= {
        n for n in by_model if is_clip_model(n)
    }
    assert not is_clip_model("emert") and not is_clip_model("majority")


def test_cli_models_flops() -> None:
    result = CliRunner().invoke(app, ["models", "--flops"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "1 fused multiply-add = 1 FLOP" in result.output
    ifdd_rows = [line for line in result.output.splitlines() if "│ ifdd " in line]
    assert len(ifdd_rows) == 2
    assert any("47.86" in line and "37.53" in line for line in ifdd_rows)
    emert = next(line for line in result.output.splitlines() if "│ emert " in line)
    assert "–" in emert
