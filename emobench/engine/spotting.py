"""The spotting evaluator: score the apex frame a prepare-time strategy chose against the
annotated one. Nothing is trained, so there are no folds: every clip with an annotation is
scored once. The "model" of a spotting run is the apex strategy
(``emobench.prepare.apex``), and the pack must hold the frames that strategy chose."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from emobench.engine.checks import check_dataset
from emobench.engine.evaluators import EVALUATORS
from emobench.errors import ProtocolError
from emobench.metrics import compute_metrics
from emobench.pack import Pack
from emobench.protocols import Protocol, split_digest
from emobench.results.schema import build_record


class SpottingEvaluator:
    def miniature_options(self, protocol: Protocol, model: str) -> dict[str, Any]:
        return {"apex": model}

    def fold_indices(self, protocol: Protocol, pack: Pack) -> list[Any]:
        return ["all"]  # nothing is trained: every annotated clip is scored once

    def run(
        self, protocol: Protocol, model: str, pack: Pack, **options: Any
    ) -> tuple[dict[str, Any], pd.DataFrame]:
        """``options`` of a trained run that would change something are refused (nothing is
        trained: no epochs, folds, overrides, probes or test-fold selection); a seed, a
        config name and progress have nothing to act on."""
        start = time.perf_counter()
        for option in ("epochs", "folds", "overrides", "probe", "select_on_test"):
            if options.get(option):
                raise ProtocolError(
                    f"protocol {protocol.id} scores a prepare-time choice and trains nothing: "
                    f"--{option.replace('_', '-')} does not apply"
                )
        samples = pack.samples
        if "apex_frame" not in samples.columns:
            raise ProtocolError(
                f"{pack.path} holds no chosen apex frames (prepare a coded-clip dataset)"
            )
        check_dataset(protocol, pack)
        strategies = sorted(set(samples["apex_strategy"].astype(str)))
        if strategies != [model]:
            raise ProtocolError(
                f"{pack.path} holds apex frames chosen by {strategies}, not by {model!r}: "
                f"prepare it with --apex {model}, or evaluate --model {'+'.join(strategies)}"
            )
        pack.check_digest()
        positions, annotated = protocol.targets(samples)
        chosen = samples["apex_frame"].to_numpy(dtype=np.float64)[positions]
        metrics = compute_metrics(list(protocol.metrics), annotated, chosen)
        predictions = pd.DataFrame(
            {
                "id": samples["id"].to_numpy()[positions],
                "subject": samples["subject"].to_numpy()[positions],
                "target": annotated.astype(np.int64),
                "prediction": chosen.astype(np.int64),
                "error": (chosen - annotated).astype(np.int64),
            }
        )
        record = build_record(
            protocol,
            pack,
            model={"name": model, "config": "none", "strategies": strategies},
            seed=0,
            selection="none (nothing trained)",
            epochs=None,
            folds=[{"fold": "all", "n_test": len(positions), "test": metrics}],
            summary={m: {"mean": v, "std": 0.0} for m, v in metrics.items()},
            aux_summary=None,
            split_digest=split_digest({"all": sorted(predictions["id"].astype(str))}),
            start=start,
        )
        record["protocol_folds"] = ["all"]
        record["partial"] = False
        return record, predictions


EVALUATORS.register("spotting", SpottingEvaluator())
