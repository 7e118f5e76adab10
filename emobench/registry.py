"""One registry mechanism for every concept emobench names (DESIGN §2).

Datasets, synth worlds, prepare steps, apex strategies, modalities, models, evaluators, tasks
and metrics are each a :class:`Registry`: entries are added by a decorator (or a direct call)
in the module that defines them. A registry with packages finds those modules itself by
importing every module of its packages on first lookup, so adding an entry is adding a file —
no hand-kept list of modules to extend. Tasks and metrics have no packages: they are declared
in ``tasks.py`` and ``metrics.py``, which every track shares.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from emobench.errors import EmobenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` appears in messages: "unknown model 'x'").

    ``packages``: the packages whose modules hold the entries; each is imported whole, once,
    before the first lookup. ``error``: the exception type raised for an unknown name.
    """

    def __init__(
        self,
        kind: str,
        packages: tuple[str, ...] | str = (),
        *,
        error: type[EmobenchError] = EmobenchError,
    ):
        self.kind = kind
        self.packages = (packages,) if isinstance(packages, str) else tuple(packages)
        self.error = error
        self._entries: dict[str, T] = {}
        self._discovered = False
        self._discovering = False

    def register(self, name: str, obj: T | None = None) -> Any:
        """``@registry.register("name")`` on a class or function, or
        ``registry.register("name", obj)``. A name registered twice is a programming error."""

        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = entry
            return entry

        return add if obj is None else add(obj)

    def discover(self) -> None:
        """Import every module of the registry's packages (their decorators run)."""
        if self._discovered or self._discovering:
            return  # done, or under way (a module being imported looked the registry up)
        self._discovering = True
        try:
            for package in self.packages:
                root = importlib.import_module(package)
                for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
                    importlib.import_module(info.name)
            self._discovered = True  # only once every module imported
        finally:
            self._discovering = False

    def get(self, name: str) -> T:
        self.discover()
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise self.error(f"unknown {self.kind} {name!r}; known: {known}")
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        self.discover()
        return iter(sorted(self._entries.items()))
