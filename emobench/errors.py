"""Errors a user can act on: each names the file (or object) and the problem."""

from __future__ import annotations

from pathlib import Path


class EmobenchError(Exception):
    """Base class. ``str(err)`` is the message printed by the CLI (exit code 2)."""


class InputError(EmobenchError):
    """Bad input data: always names the offending file and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ProtocolError(EmobenchError):
    """A protocol file is invalid, or a protocol and a model/pack do not fit together."""


class PackError(EmobenchError):
    """A pack is missing, incomplete, of the wrong schema or corrupt."""


class PackCorrupt(PackError):
    """A pack exists but its content does not match what it records (damaged bytes, changed
    attributes, an unreadable structure): ``verify`` reports it as a failed check (exit 1)."""


class Interrupted(EmobenchError):
    """Work stopped before its end for a reason outside the data (a worker process died);
    what was finished is kept for a rerun to resume (a pack writer suspends, as on Ctrl-C)."""
