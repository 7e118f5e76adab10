"""Prepare's worker processes (``prepare --workers N``): samples prepared in N processes and
handed back to the one process that writes the pack, in sample order.

Forked where that is safe, spawned otherwise. A forked worker starts at once with every
module imported, where a spawned one first imports emobench, NumPy and OpenCV again (about
0.6 s each), and it can share memory mapped before the fork. But a fork copies only the
calling thread: a lock another thread holds stays held in the child for ever. OpenCV's own
thread pool is such a thread — a child forked after a parallel resize or decode hangs in its
first one (seen here) — so the pool is stopped for the fork (``cv2.setNumThreads(1)``, which
joins its threads; the old setting is restored after). The workers are then forked when no
other thread runs: one Python thread (``threading``), and no more native threads than ran
once NumPy and OpenCV were imported (``/proc/self/task``; those are their OpenBLAS servers,
which stop themselves around a fork). MediaPipe's graph threads, OpenMP teams, a progress
bar's refresh thread — anything started since — make the workers spawned. Platforms without
``/proc`` spawn.

Forked workers hand a sample's arrays back through memory shared with the writing process: one
anonymous shared mapping, made before the fork, cut into ``slots`` equal slots. The worker
copies the arrays into the slot its sample was given and returns only where they lie (with the
sample's digests and table columns); the writing process writes them to the pack straight from
the slot. At most ``slots`` samples are in flight: a sample is handed to a worker with the
slot of a sample already written, so no slot is written while it is read. An anonymous
mapping takes no space in ``/dev/shm``, whose small default size in containers would end a
process by SIGBUS.

Spawned workers, and a sample larger than a slot, send their arrays pickled through their
pipe (for a small clip that costs more than decoding it; figures in CHANGELOG). Workers run
one OpenCV thread each: the workers already fill the cores.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import cv2
import numpy as np

from emobench.errors import Interrupted
from emobench.malloc_settings import keep_large_blocks

# (payload, failure): payload is (arrays, *more) — the sample's arrays by key first — or None
# when the sample failed, and failure then says why.
Result = tuple[tuple | None, Any]

_ALIGN = 64  # bytes: each array of a slot starts on a cache line
SHARED_BYTES = 1 << 30  # the largest shared mapping (address space; only used bytes are touched)


def _os_threads() -> int | None:
    """Threads this process runs, native ones included (None without ``/proc``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


# NumPy's and OpenCV's OpenBLAS servers start when they are imported (above)
_THREADS_AT_IMPORT = _os_threads()


def fork_is_safe() -> bool:
    """Whether a fork now copies no thread but the OpenBLAS servers (module docstring);
    stop OpenCV's pool first."""
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() != 1:
        return False
    now = _os_threads()
    return now is not None and _THREADS_AT_IMPORT is not None and now <= _THREADS_AT_IMPORT


@dataclass(frozen=True)
class Placed:
    """Where a sample's arrays lie in its slot: ``(key, dtype, shape, offset)`` each, the
    offset counted from the start of the shared mapping."""

    arrays: tuple[tuple[str, str, tuple[int, ...], int], ...]


@dataclass(frozen=True)
class _Raised:
    """An exception a job raised in a worker (``run`` turns the expected failures into a
    failure of the result; anything else is a bug, raised again in the writing process)."""

    error: BaseException


class WorkerDied(Interrupted):
    """A worker process ended before it returned a result: killed (out of memory, a signal)
    or crashed in native code. ``index``: the first job whose result did not come back."""

    def __init__(self, pid: int, exitcode: int | None, index: int):
        self.pid, self.exitcode, self.index = pid, exitcode, index
        if exitcode is not None and exitcode < 0:
            try:
                how = f"by signal {signal.Signals(-exitcode).name}"
            except ValueError:
                how = f"by signal {-exitcode}"
            if exitcode == -signal.SIGKILL:
                how += " (killed: out of memory, or by hand)"
        else:
            how = f"with exit code {exitcode}"
        super().__init__(f"a prepare worker (pid {pid}) died {how}")


def _shared_map(size: int) -> mmap.mmap | None:
    """An anonymous shared mapping of ``size`` bytes, or None where the system refuses one
    (strict overcommit, a small address-space limit): the samples then come back pickled."""
    try:
        return mmap.mmap(-1, size)
    except OSError:
        return None


def _serve(
    connection: Connection,
    run: Callable[[Any], Result],
    shared: mmap.mmap | None,
    slot_bytes: int,
    inherited: tuple[Connection, ...] = (),
) -> None:
    """A worker's life: ``(job, slot)`` in, its result out, in order, until ``None``, or until
    the writing process is gone (killed too): a forked worker first closes the writing
    process's ends of the pipes it ``inherited`` — its own among them — or it would hold
    them open and never see that end. Ctrl-C reaches the whole process group: the writing
    process handles it (it keeps the pack for a rerun and stops the workers), so a worker
    ignores it rather than die mid-job."""
    for end in inherited:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)  # the workers already fill the cores
    keep_large_blocks()  # a spawned worker has glibc's defaults (a forked one inherits it)
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the writing process is gone
            return
        if message is None:
            return
        job, slot = message
        try:
            result = _into_slot(run(job), shared, slot, slot_bytes)
        except Exception as err:
            result = _Raised(err)
        try:
            connection.send(result)
        except OSError:  # the writing process is gone
            return


def _into_slot(result: Result, shared: mmap.mmap | None, slot: int, slot_bytes: int) -> Result:
    """``result`` with its arrays copied into slot number ``slot`` of ``shared`` and replaced by
    where they lie, when they fit; else as it is (pickled whole)."""
    payload, failure = result
    if payload is None or shared is None:
        return result
    arrays, *more = payload
    placed, offset = [], 0
    for key, value in arrays.items():
        a = np.asarray(value)
        if offset + a.nbytes > slot_bytes:
            return result
        placed.append((key, a, slot * slot_bytes + offset))
        offset += -(-a.nbytes // _ALIGN) * _ALIGN
    for _, a, start in placed:  # a copy in C order, whatever the array's own strides
        np.ndarray(a.shape, a.dtype, buffer=shared, offset=start)[...] = a
    where = tuple((key, a.dtype.str, a.shape, start) for key, a, start in placed)
    return (Placed(where), *more), failure


class SampleWorkers:
    """``count`` worker processes that run ``run`` (a module-level function, so that a
    spawned worker can import it) on each job. Start them before opening files a fork
    should not copy; :meth:`results` then yields the results in job order.

    Each worker has a pipe of its own: a job goes to the worker that holds fewest (``depth``
    at most), and results are put back in job order here, without a thread of this process
    in between (a :class:`~concurrent.futures.ProcessPoolExecutor` passes each job and result
    through two, which cost this process more CPU than the pipe; figures in CHANGELOG).
    ``count x depth`` jobs are in flight at most, each with its slot of ``slot_bytes`` of
    shared memory (less when the slots would pass :data:`SHARED_BYTES`): the largest sample
    handed back that way; ``shared`` is that mapping (None: every sample comes back
    pickled). ``method``: ``fork`` or ``spawn`` (default: fork when :func:`fork_is_safe`)."""

    def __init__(
        self,
        run: Callable[[Any], Result],
        count: int,
        *,
        slot_bytes: int = 32 << 20,
        depth: int = 4,
        method: str | None = None,
    ):
        self.depth = depth
        self.slots = count * depth
        # a mapping's address space is cheap but not free: many workers get smaller slots
        self.slot_bytes = slot_bytes = min(slot_bytes, SHARED_BYTES // self.slots)
        self._connections: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self.shared: mmap.mmap | None = None
        opencv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # stops OpenCV's pool: a fork must not copy its threads' locks
        # workers are born ignoring Ctrl-C (see _serve), not only once they get that far
        main_thread = threading.current_thread() is threading.main_thread()
        ctrl_c = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:
            self.method = method or ("fork" if fork_is_safe() else "spawn")
            forked = self.method == "fork"
            if forked:
                self.shared = _shared_map(self.slots * slot_bytes)
            context = multiprocessing.get_context(self.method)
            for _ in range(count):
                ours, theirs = context.Pipe()
                inherited = (*self._connections, ours) if forked else ()
                process = context.Process(
                    target=_serve,
                    args=(theirs, run, self.shared, slot_bytes, inherited),
                    name="emobench-prepare-worker",
                    daemon=True,
                )
                process.start()
                theirs.close()
                self._connections.append(ours)
                self._processes.append(process)
        except BaseException:
            self.close()
            raise
        finally:
            cv2.setNumThreads(opencv_threads)
            if ctrl_c is not None:
                signal.signal(signal.SIGINT, ctrl_c)

    def results(self, jobs: Iterable[Any]) -> Iterator[Result]:
        """Each job's result, in job order. Arrays that came back through shared memory are
        views of their slot: valid until the next result is asked for (write or copy them
        before), when the slot goes to a later job. A job's unexpected exception is raised
        here; a worker that dies raises :class:`WorkerDied` when its first unreturned job is
        due (the results of every job before it are yielded first)."""
        jobs = iter(jobs)
        end = object()
        count = len(self._connections)
        held: list[deque[int]] = [deque() for _ in range(count)]  # each worker's jobs, in order
        arrived: dict[int, Any] = {}
        dead: dict[int, WorkerDied] = {}  # worker -> why; raised when its first job is due
        sent = taken = 0
        while True:
            # A job goes to the least busy live worker once its slot is free: the job a
            # slot earlier was taken (and written) before.
            while sent < taken + self.slots and len(dead) < count:
                worker = min((k for k in range(count) if k not in dead), key=lambda k: len(held[k]))
                job = next(jobs, end) if len(held[worker]) < self.depth else end
                if job is end:
                    break
                try:
                    self._connections[worker].send((job, sent % self.slots))
                except OSError:  # it died idle: the job is its, raised when due
                    dead[worker] = self._died(worker, sent)
                held[worker].append(sent)
                sent += 1
            if taken == sent:
                return
            while taken not in arrived:
                holder = next(k for k in range(count) if held[k] and held[k][0] == taken)
                if holder in dead:
                    raise dead[holder]
                busy = [self._connections[k] for k in range(count) if held[k] and k not in dead]
                for connection in wait(busy):
                    worker = self._connections.index(connection)
                    try:
                        arrived[held[worker][0]] = connection.recv()
                    except (EOFError, OSError):
                        dead[worker] = self._died(worker, held[worker][0])
                        continue
                    held[worker].popleft()
            result = arrived.pop(taken)
            if isinstance(result, _Raised):
                raise result.error
            payload, failure = result
            if payload is not None and isinstance(payload[0], Placed):
                payload = (self._views(payload[0]), *payload[1:])
            yield payload, failure
            del payload, result
            taken += 1

    def _died(self, worker: int, index: int) -> WorkerDied:
        process = self._processes[worker]
        process.join(5)
        return WorkerDied(process.pid, process.exitcode, index)

    def _views(self, placed: Placed) -> dict[str, np.ndarray]:
        return {
            key: np.ndarray(shape, dtype, buffer=self.shared, offset=offset)
            for key, dtype, shape, offset in placed.arrays
        }

    def close(self) -> None:
        """Stop the workers (a worker still busy is ended after a few seconds) and unmap the
        shared memory."""
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.send(None)
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join()
        for connection in self._connections:
            connection.close()
        self._connections, self._processes = [], []
        if self.shared is not None:
            # a caller that still holds a view keeps the mapping until it lets go of it
            with contextlib.suppress(BufferError):
                self.shared.close()
            self.shared = None

    def __enter__(self) -> SampleWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
