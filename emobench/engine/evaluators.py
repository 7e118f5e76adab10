"""How a protocol is run, chosen by its task (``Task.evaluator``), never by a command-line
branch or a model-name convention.

An evaluator turns (protocol, model, pack) into a results record and the per-sample
predictions, and says how the embedded miniature pack must be prepared for it (a spotting run
needs the pack its apex strategy chose frames for; a trained run needs the protocol's frame
sampling). Each evaluator is one module of this package that registers itself.
"""

from __future__ import annotations

from typing import Any
from typing import Protocol as TypingProtocol

import pandas as pd

from emobench.errors import ProtocolError
from emobench.pack import Pack
from emobench.protocols import Protocol
from emobench.registry import Registry


class Evaluator(TypingProtocol):
    def run(
        self, protocol: Protocol, model: str, pack: Pack, **options: Any
    ) -> tuple[dict[str, Any], pd.DataFrame]: ...

    def miniature_options(self, protocol: Protocol, model: str) -> dict[str, Any]:
        """Keyword options of ``emobench.miniature.miniature_pack`` for this run."""
        ...

    def fold_indices(self, protocol: Protocol, pack: Pack) -> list[Any]:
        """The folds a run of ``protocol`` on ``pack`` tests (what ``--folds`` picks from)."""
        ...


EVALUATORS: Registry[Evaluator] = Registry("evaluator", "emobench.engine", error=ProtocolError)


def evaluator_for(protocol: Protocol) -> Evaluator:
    return EVALUATORS.get(protocol.task_spec.evaluator)
