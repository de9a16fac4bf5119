"""Heavy signatures (those with a work limit: the generator's and the translator's beam
search) run in worker processes of their own, at the lowest CPU priority, so that a long
generation cannot slow the other models down.

Threads in one process cannot do that: TensorFlow's intra- and inter-op thread pools are
process-wide, so a generation's ops and a sentiment request's ops queue on the same
threads, and every thread of a process shares its priority. A worker is another Python
process (`python -m serving.worker`) that lowers its own priority (`os.nice` 19 and
Linux's SCHED_IDLE policy) before it imports TensorFlow; the kernel then runs the
server's threads first whenever they want a core, and the worker only on what is left.

Each model with heavy signatures has `heavy_threads` workers (1 by default), started as
soon as the model is loaded (they import TensorFlow and load the newest version at their
low priority, so the first heavy request need not wait for that) or else by its first
heavy request; a worker loads the versions it is asked for (the two most recently used
are kept) and answers one call at a time over a socket pair. A call past its
deadline stops the worker (a stuck beam search is really cancelled, not left running)
and is a `DeadlinePassed`; a worker that dies is a `WorkerLost` (HTTP 503) and is started
again on the next call. A refusal by the graph (a limit it asserts) comes back as
`GraphRefused`, the server's 400.
"""

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

log = logging.getLogger("serving")
ROOT = Path(__file__).resolve().parents[1]
KEPT_VERSIONS = 2  # loaded exports a worker keeps (an old and a new version during a swap)


class DeadlinePassed(TimeoutError):
    """A request whose deadline passed before its answer (HTTP 504)."""


class WorkerLost(RuntimeError):
    """The worker process died or failed during a call (HTTP 503; it is started again)."""


class GraphRefused(ValueError):
    """The graph refused the inputs (an `InvalidArgumentError`: HTTP 400); the message is
    TensorFlow's."""


class Worker:
    """One worker process and the socket to it; started when first called and again after
    it died or was stopped."""

    def __init__(self, name: str, niceness: int, on_start=None):
        self.name, self.niceness = name, niceness
        self.on_start = on_start or (lambda: None)  # told each (re)start, for the metrics
        self.process: subprocess.Popen | None = None
        self.connection: Connection | None = None
        self.ready = False  # TensorFlow imported: the worker said so
        self.lock = threading.Lock()  # held by a call, and by `prestart` while it starts one

    def start(self, preload: Path | None = None) -> None:
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", "serving.worker", str(theirs.fileno()), str(self.niceness)]
        command += [str(preload)] if preload else []
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        with theirs:
            self.process = subprocess.Popen(
                command, pass_fds=(theirs.fileno(),), cwd=ROOT, stdin=subprocess.DEVNULL, env=environment
            )
        self.connection, self.ready = Connection(ours.detach()), False
        self.on_start()
        log.info("started a worker for %s's heavy signatures (pid %d)", self.name, self.process.pid)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.connection.close()
        self.process = self.connection = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def prestart(self, preload: Path) -> None:
        """Start the worker, loading `preload`, unless it runs or a call is using it."""
        if self.lock.acquire(blocking=False):
            try:
                if not self.alive():
                    self.stop()
                    self.start(preload)
            finally:
                self.lock.release()

    def call(self, path: Path, signature_name: str, arrays: dict, deadline: float) -> dict:
        """The signature's outputs for `arrays`, computed in the worker before `deadline`
        (a `time.monotonic()` time)."""
        with self.lock:
            return self.locked_call(path, signature_name, arrays, deadline)

    def locked_call(self, path: Path, signature_name: str, arrays: dict, deadline: float) -> dict:
        if time.monotonic() > deadline:
            raise DeadlinePassed("the deadline passed while the request was queued")
        if not self.alive():
            if self.process is not None:
                log.error("the worker of %s exited (%s); starting another", self.name, self.process.returncode)
            self.stop()
            self.start()
        try:
            if not self.ready:  # still importing TensorFlow: the next request gets it if this one cannot wait
                if not self.connection.poll(max(deadline - time.monotonic(), 0)):
                    raise DeadlinePassed("the worker was still starting when the deadline passed")
                self.connection.recv()
                self.ready = True
            self.connection.send((str(path), signature_name, arrays))
            if not self.connection.poll(max(deadline - time.monotonic(), 0)):
                self.stop()  # really cancels the call: nothing keeps computing an answer nobody waits for
                raise DeadlinePassed("the deadline passed while the worker computed the answer")
            status, payload = self.connection.recv()
        except DeadlinePassed:  # a TimeoutError, hence an OSError: not a lost worker
            raise
        except (EOFError, OSError) as problem:
            self.stop()
            raise WorkerLost(f"the worker of {self.name!r} stopped during the request; try again") from problem
        if status == "refused":
            raise GraphRefused(payload)
        if status == "failed":
            log.error("the worker of %s failed: %s", self.name, payload)
            raise WorkerLost(f"the worker of {self.name!r} failed ({payload.split(':')[0]}); try again")
        return payload


class HeavyPool:
    """The workers of one model: a call takes an idle one (there is one per thread of the
    executor that makes the calls, so one is always idle)."""

    def __init__(self, name: str, workers: int, niceness: int, on_start=None):
        self.workers = [Worker(name, niceness, on_start) for _ in range(workers)]
        self.idle: queue.SimpleQueue = queue.SimpleQueue()
        for worker in self.workers:
            self.idle.put(worker)

    def call(self, path: Path, signature_name: str, arrays: dict, deadline: float) -> dict:
        worker = self.idle.get()
        try:
            return worker.call(path, signature_name, arrays, deadline)
        finally:
            self.idle.put(worker)

    def prestart(self, preload: Path) -> None:
        """Start the workers that do not run (and are not in a call), loading `preload`."""
        for worker in self.workers:
            worker.prestart(preload)

    def running(self) -> int:
        return sum(worker.alive() for worker in self.workers)

    def stop(self) -> None:
        for worker in self.workers:
            if worker.lock.acquire(blocking=False):
                try:
                    worker.stop()
                finally:
                    worker.lock.release()
            elif (process := worker.process) is not None:
                process.kill()  # the call using it sees it gone, answers 503 and cleans up


# ---------------------------------------------------------------- in the worker process


def lower_priority(niceness: int) -> None:
    """The lowest CPU priority this process may take: `niceness` and, on Linux, the idle
    policy (SCHED_IDLE; SCHED_BATCH where it is refused). Threads started later inherit both.

    Nice 19 alone only gives the server's threads the larger share of a busy core; a core
    that runs only SCHED_IDLE threads counts as idle, so a server thread that wakes (the
    event loop, a TensorFlow thread) is put there and runs at once. Niceness 0 keeps the
    server's priority: SCHED_IDLE yields to every busy process on the machine, not only to
    the server, so beside a training job even a tiny beam search can outlast its deadline."""
    if niceness <= 0:
        return
    os.nice(niceness)
    for policy in ("SCHED_IDLE", "SCHED_BATCH"):
        if hasattr(os, "sched_setscheduler") and hasattr(os, policy):
            try:
                os.sched_setscheduler(0, getattr(os, policy), os.sched_param(0))
                return
            except OSError:
                continue


def serve(connection: Connection, preload: list[str]) -> None:
    """Load `preload`, then answer calls until the server closes the socket: ("ok",
    outputs), ("refused", TensorFlow's message) or ("failed", "Type: message")."""
    import numpy as np
    import tensorflow as tf

    exports: dict[str, object] = {}  # path -> loaded SavedModel, the most recently used last
    for path in preload:
        try:
            exports[path] = tf.saved_model.load(path)
        except Exception as problem:  # the call that needs it will say what went wrong
            log.warning("the worker could not preload %s: %s", Path(path).name, type(problem).__name__)
    connection.send(("ready",))
    while True:
        try:
            path, signature_name, arrays = connection.recv()
        except EOFError:
            return
        try:
            if path not in exports:
                exports[path] = tf.saved_model.load(path)
                while len(exports) > KEPT_VERSIONS:
                    del exports[next(iter(exports))]
            exports[path] = exports.pop(path)
            function = exports[path].signatures[signature_name]
            specs = function.structured_input_signature[1]
            tensors = {name: tf.constant(array, dtype=specs[name].dtype) for name, array in arrays.items()}
            reply = ("ok", {name: np.asarray(value.numpy()) for name, value in function(**tensors).items()})
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as problem:
            reply = ("refused", problem.message)
        except Exception as problem:  # answered, never fatal: the next call may well succeed
            first = str(problem).strip().splitlines()
            reply = ("failed", f"{type(problem).__name__}: {first[0] if first else ''}")
        connection.send(reply)


if __name__ == "__main__":
    descriptor, niceness = int(sys.argv[1]), int(sys.argv[2])
    lower_priority(niceness)  # before TensorFlow starts its threads, so they inherit it
    serve(Connection(descriptor), sys.argv[3:])
