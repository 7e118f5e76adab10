"""The trained evaluator: every fold of a protocol trained, selected on validation and
tested once (:mod:`emobench.engine.loop`), summarised into one results record."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from emobench.engine.checks import check_fit, check_test_rows
from emobench.engine.distributed import execution
from emobench.engine.evaluators import EVALUATORS
from emobench.engine.loop import Progress, run_fold, whole_run
from emobench.errors import ProtocolError
from emobench.pack import Pack
from emobench.protocols import Protocol, split_digest
from emobench.results.schema import build_record, summarise


class TrainedEvaluator:
    def miniature_options(self, protocol: Protocol, model: str) -> dict[str, Any]:
        return {
            "frames": protocol.sampling.get("frames"),
            "stride": int(protocol.sampling.get("stride", 0)),
            **protocol.prepare,
        }

    def fold_indices(self, protocol: Protocol, pack: Pack) -> list[Any]:
        positions, _ = protocol.targets(pack.samples)
        return [f.index for f in protocol.folds(pack.samples, positions)]

    def run(
        self,
        protocol: Protocol,
        model: str,
        pack: Pack,
        *,
        config: str = "small",
        seed: int = 0,
        select_on_test: bool = False,
        folds: list[int] | None = None,
        epochs: int | None = None,
        overrides: dict[str, Any] | None = None,
        progress: Progress | None = None,
        probe: bool = False,
        device: str = "cpu",
        amp: bool = False,
    ) -> tuple[dict[str, Any], pd.DataFrame]:
        """Run every fold (or ``folds``); return the results record and all test predictions.

        ``probe``: also fit linear probes of each fold's trained features
        (:mod:`emobench.feature_probe`; classification only), recorded per fold and
        summarised under ``record["probe"]``."""
        start = time.perf_counter()
        entry = check_fit(protocol, model, pack)
        if probe and not protocol.task_spec.predicts_classes:
            raise ProtocolError(
                f"--probe scores classes; protocol {protocol.id} is {protocol.task}"
            )
        if epochs is not None and epochs < 1:
            raise ProtocolError(f"--epochs must be at least 1, got {epochs}")
        pack.check_digest()
        positions, targets = protocol.targets(pack.samples)
        aux = protocol.aux_targets(pack.samples)
        targets_by_pos = dict(zip(positions.tolist(), targets.tolist(), strict=True))
        aux_by_pos = (
            dict(zip(positions.tolist(), aux[positions].tolist(), strict=True))
            if aux is not None
            else None
        )
        all_folds = protocol.folds(pack.samples, positions)
        manifest = protocol.split_manifest(pack.samples, all_folds)
        chosen = [f for f in all_folds if folds is None or f.index in folds]
        if not chosen:
            raise ProtocolError(
                f"no fold among {folds}; protocol {protocol.id} has {[f.index for f in all_folds]}"
            )
        check_test_rows(protocol, model, pack, chosen)
        outcomes = [
            run_fold(
                protocol,
                entry,
                pack,
                fold,
                targets_by_pos,
                aux_by_pos,
                config=config,
                seed=seed,
                select_on_test=select_on_test,
                overrides=overrides,
                epochs=epochs,
                progress=whole_run(progress, k, len(chosen)),
                probe=probe,
                device=device,
                amp=amp,
            )
            for k, fold in enumerate(chosen)
        ]
        record = build_record(
            protocol,
            pack,
            model={
                **outcomes[0].model_description,
                "name": model,
                "config": config,
                "overrides": dict(overrides or {}),
                "inputs": {"train": list(entry.inputs), "test": list(entry.reads_at_test)},
            },
            seed=seed,
            selection="test-oracle" if select_on_test else "validation",
            epochs=epochs,
            folds=[o.record() for o in outcomes],
            summary=summarise([o.test for o in outcomes]),
            aux_summary=summarise([o.aux_test for o in outcomes if o.aux_test is not None]),
            split_digest=split_digest(manifest),
            start=start,
        )
        record["protocol_folds"] = [f.index for f in all_folds]
        record["partial"] = len(chosen) < len(all_folds)
        # where it trained: device, bfloat16 autocast, torchrun world size and backend
        record["provenance"]["hardware"].update(execution(device, amp).describe())
        if protocol.conditions:
            record["conditions"] = {
                name: summarise([o.conditions[name] for o in outcomes])
                for name in protocol.conditions
            }
        if probe:
            record["probe"] = summarise([o.probe for o in outcomes if o.probe is not None])
            record["probe"]["reads"] = {"label_uar": protocol.label}
            record["probe"]["chance"] = {"label_uar": 1 / len(protocol.classes)}
            if aux is not None:
                record["probe"]["reads"]["aux_uar"] = protocol.aux_label
                record["probe"]["chance"]["aux_uar"] = 1 / len(protocol.aux_classes)
        return record, pd.concat([o.predictions for o in outcomes], ignore_index=True)


EVALUATORS.register("trained", TrainedEvaluator())
