"""Sharded prepare: ``emobench prepare ... --shard k/n`` prepares one of ``n`` parts of a
release, so that ``n`` jobs (on one machine or many) share the work; ``emobench pack merge``
(:mod:`emobench.pack_merge`) joins the parts into the pack one process would have written.

Part ``k`` takes every ``n``-th sample of the adapter's order, starting with the ``k``-th
(sample ``i``, counted from 0, belongs to part ``i mod n + 1``). The adapter's order is the
pack's row order and does not depend on the machine, so the parts are the same wherever they
run; taking every ``n``-th sample also spreads long and short clips evenly over the parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from emobench.errors import EmobenchError

T = TypeVar("T")

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class ShardSpec:
    """Part ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str | ShardSpec | tuple[int, int]) -> ShardSpec:
        """``"3/8"`` (or a ``(3, 8)`` pair) → ShardSpec(3, 8); anything else is an
        EmobenchError saying what ``--shard`` takes."""
        if isinstance(text, ShardSpec):
            return text
        if isinstance(text, tuple):
            index, count = text
        else:
            match = _SPEC.fullmatch(str(text))
            if not match:
                raise EmobenchError(
                    f"--shard {text!r}: give the part and the number of parts, e.g. --shard 3/8"
                )
            index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise EmobenchError(
                f"--shard {index}/{count}: the part must be between 1 and the number of parts "
                f"(1/{max(count, 1)} … {max(count, 1)}/{max(count, 1)})"
            )
        return cls(int(index), int(count))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, position: int) -> bool:
        """Whether the sample at ``position`` (0-based, in the adapter's order) is ours."""
        return position % self.count == self.index - 1

    def select(self, items: list[T]) -> list[int]:
        """The positions of ``items`` that belong to this part, in order."""
        return [i for i in range(len(items)) if self.owns(i)]

    def pack_path(self, out: str | Path) -> Path:
        """Where this part is written when the merged pack is to be ``out``:
        ``packs/dfew.h5`` → ``packs/dfew.shard-3of8.h5``."""
        out = Path(out)
        return out.with_name(f"{out.stem}.shard-{self.index}of{self.count}{out.suffix}")
