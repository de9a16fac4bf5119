"""Dynamic batching: concurrent requests to one signature of one loaded version are
merged into one call, as TensorFlow Serving's batching does, and each caller gets back
exactly its own rows.

At most `batch_threads` model calls run at once per signature (TF Serving's
`num_batch_threads`); requests that arrive while they all run queue up and form the next
batch, so a lightly loaded server adds no wait and a busy one merges more. A batch holds
at most `max_batch_size` rows; `max_wait_seconds` (default 0) makes a batch wait that
long after its first request for more. Outputs padded to the longest row of the batch
(declared in the export's task.json as `padded_outputs`: output -> its length output) are
cut back to what the caller's own rows need, so a merged answer equals an unmerged one.
"""

import asyncio
import dataclasses

import numpy as np
import tensorflow as tf

from serving.models import SignatureInfo


def run_signature(signature: SignatureInfo, arrays: dict) -> dict:
    """Call a signature on NumPy inputs; NumPy outputs."""
    tensors = {name: tf.constant(array, dtype=signature.inputs[name].dtype) for name, array in arrays.items()}
    return {name: np.asarray(value.numpy()) for name, value in signature.function(**tensors).items()}


@dataclasses.dataclass
class Pending:
    arrays: dict
    rows: int
    answer: asyncio.Future


class Batcher:
    """Merges concurrent calls of one batchable signature."""

    def __init__(
        self,
        signature: SignatureInfo,
        executor,
        max_batch_size: int,
        max_wait_seconds: float,
        observe=None,
        batch_threads: int = 1,
    ):
        self.signature = signature
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_seconds = max_wait_seconds
        self.observe = observe or (lambda rows: None)  # told each batch's size in rows
        self.queue: asyncio.Queue = asyncio.Queue()
        self.batch_threads = batch_threads
        self.free = None  # a semaphore of batch threads, made on the serving loop
        self.running: set = set()  # batches being computed (kept referenced until done)
        self.worker = None

    async def call(self, arrays: dict, rows: int) -> dict:
        """This request's outputs, computed in a batch with whatever arrives with it."""
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self.work())
        pending = Pending(arrays, rows, asyncio.get_running_loop().create_future())
        await self.queue.put(pending)
        return await pending.answer

    async def work(self) -> None:
        self.free = asyncio.Semaphore(self.batch_threads)
        while True:
            await self.free.acquire()  # a batch forms only when a thread can take it
            batch = [await self.queue.get()]
            await self.collect(batch)
            running = asyncio.get_running_loop().create_task(self.run(batch))
            self.running.add(running)
            running.add_done_callback(self.done)

    def done(self, running) -> None:
        self.running.discard(running)
        self.free.release()

    async def collect(self, batch: list) -> None:
        """Add what is already waiting (requests queue up while the previous batch runs),
        then, with a wait time, what arrives before it ends; at most `max_batch_size` rows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_seconds
        rows = batch[0].rows
        while rows < self.max_batch_size:
            if not self.queue.empty():
                pending = self.queue.get_nowait()
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    pending = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    return
            if rows + pending.rows > self.max_batch_size:
                await self.run([pending])  # too big to join: on its own, after this batch
                continue
            batch.append(pending)
            rows += pending.rows

    def close(self) -> None:
        """Stop the worker (the version is no longer served): nothing keeps it alive."""
        if self.worker is not None:
            self.worker.cancel()
        self.worker = None

    async def run(self, batch: list) -> None:
        batch = [pending for pending in batch if not pending.answer.done()]  # callers past their deadline left
        if not batch:
            return
        loop = asyncio.get_running_loop()
        merged = {name: np.concatenate([p.arrays[name] for p in batch]) for name in self.signature.inputs}
        self.observe(sum(p.rows for p in batch))
        try:
            outputs = await loop.run_in_executor(self.executor, run_signature, self.signature, merged)
        except Exception:
            # One request may have spoiled the batch: each runs alone for its own answer or error.
            for pending in batch:
                await self.run_alone(pending)
            return
        start = 0
        for pending in batch:
            if not pending.answer.done():
                pending.answer.set_result(self.cut(outputs, start, pending.rows))
            start += pending.rows

    async def run_alone(self, pending: Pending) -> None:
        if pending.answer.done():
            return
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(self.executor, run_signature, self.signature, pending.arrays)
            pending.answer.set_result(outputs)
        except Exception as error:
            pending.answer.set_exception(error)

    def cut(self, outputs: dict, start: int, rows: int) -> dict:
        """The caller's rows of each output, padded outputs cut to the caller's longest."""
        mine = {name: value[start : start + rows] for name, value in outputs.items()}
        for name, length_name in self.signature.padded_outputs.items():
            if name in mine and length_name in mine:
                longest = int(mine[length_name].max()) if rows else 0
                mine[name] = mine[name][:, :longest]
        return mine
