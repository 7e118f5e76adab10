"""The engine: runs a model under a protocol on a pack (DESIGN §3–4.5).

- :mod:`~emobench.engine.evaluators` chooses how a protocol is run from its task;
- :mod:`~emobench.engine.training` (train, select on validation, test once) and
  :mod:`~emobench.engine.spotting` (score a prepare-time choice) are the evaluators;
- :mod:`~emobench.engine.loop` runs one fold; :mod:`~emobench.engine.data` feeds it batches;
  :mod:`~emobench.engine.checks` refuses a model that does not fit before any work.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from emobench.engine.data import FeatureScaler, PackDataset, model_spec
from emobench.engine.evaluators import evaluator_for
from emobench.modalities import to_model_inputs
from emobench.pack import Pack
from emobench.protocols import Protocol

__all__ = ["FeatureScaler", "PackDataset", "evaluate", "model_spec", "to_model_inputs"]


def evaluate(
    protocol: Protocol, model: str, pack: Pack, **options: Any
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run ``model`` under ``protocol`` on ``pack`` with the protocol's evaluator; return the
    results record and the per-sample predictions."""
    return evaluator_for(protocol).run(protocol, model, pack, **options)
