"""Run a function in a forked child process, so that a crash of native code (the HDF5
library can crash outright on a file whose structure is damaged) becomes an error naming the
file instead of a dead process with no message.

The child is forked (Linux and macOS with the ``fork`` start method available), so nothing is
re-imported and the cost is a few milliseconds; it sends progress reports and its result back
through a pipe, then leaves with ``os._exit`` (the parent's exit hooks are not the child's to
run). Where ``fork`` is not available the function runs in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from typing import Any

from emobench.errors import EmobenchError


class ChildCrashed(EmobenchError):
    """The child died from a signal or exited without a result."""


def call_isolated(
    fn: Callable[..., Any],
    *args: Any,
    progress: Callable[..., None] | None = None,
    what: str = "the child process",
) -> Any:
    """``fn(*args, progress=report)`` in a forked child; its return value, its exception
    (re-raised here when it is an EmobenchError), or :class:`ChildCrashed` naming ``what``."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return fn(*args, progress=progress)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(fn, args, send), daemon=True)
    child.start()
    send.close()
    result: Any = None
    outcome = None
    try:
        while True:
            try:
                kind, value = receive.recv()
            except EOFError:
                break
            if kind == "progress":
                if progress is not None:
                    progress(*value)
            else:
                outcome, result = kind, value
                break
    finally:
        child.join()
        receive.close()
    if outcome == "ok":
        return result
    if outcome == "error":
        error_type, message = result
        try:
            error = error_type(message) if error_type is not None else EmobenchError(message)
        except TypeError:  # an error class that is not built from its message alone
            error = EmobenchError(message)
        raise error
    code = child.exitcode
    how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
    raise ChildCrashed(f"{what} crashed ({how}) — the file's structure is damaged")


def _child(fn: Callable[..., Any], args: tuple, send: Any) -> None:
    def report(*value: Any) -> None:
        send.send(("progress", value))

    try:
        send.send(("ok", fn(*args, progress=report)))
    except EmobenchError as err:
        send.send(("error", (type(err), str(err))))
    except Exception as err:  # reported, never a traceback on the user's screen
        last = traceback.extract_tb(err.__traceback__)[-1]
        send.send(("error", (None, f"{type(err).__name__}: {err} (at {last.name})")))
    finally:
        send.close()
        # Leave now: a normal exit runs the parent's thread-shutdown hooks, and those of a
        # thread pool (MediaPipe's, once landmarks were found in the parent) wait forever on
        # threads the fork did not copy.
        os._exit(0)
