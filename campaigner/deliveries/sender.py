"""Handing a batch of messages to a channel plugin: concurrently, each with a timeout.

Slow gateways are the norm (an SMS provider answering in 20-200 ms), so one
worker sends a batch through a pool of threads instead of one blocking send at
a time; a channel with a batch API (`capabilities.supports_batch`) gets its own
`send_batch` call instead. A plugin that raises fails only its own item; one
that hangs past `channel.send_timeout` is given up on, its item reported as
`SendTimeout`, and the items still waiting move to fresh threads so a stuck
thread can't starve the rest.

The engine hands a batch over in small groups (a few dozen messages), so
starting threads for each group would cost more than the sends of a channel
that answers at once (a local outbox, a no-op). A channel whose every send in
a group took under `INLINE_BELOW` seconds has its next group of the same batch
sent in the calling thread (the batch passes its `pace` dict along); the
first slower send switches it back to threads. Inline, a
send that hangs is not cut off at `send_timeout` (nobody is left to watch it):
the batch then stops renewing its claim, and recovery treats the group as in
flight — never sent twice, only later.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class SendTimeout(Exception):
    """The plugin did not answer within the channel's send_timeout; the outcome is unknown."""


INLINE_BELOW = 0.001  # seconds per send: faster channels are called in the batch's own thread


def send_messages(channel, items: list, threads: int = 32, on_wait=None, pace: dict | None = None) -> list:
    """Send each (message, idempotency_key) of `items`; return a SendResult or an exception per item.

    `on_wait()` is called now and then (at least every 0.2 s) from the calling thread while sends
    are under way: the engine renews its claim's lease there, so a slow batch is never taken for dead.
    `pace` carries what the last group showed of the channel's speed to the next group of a batch.
    """
    if not items:
        return []
    timeout = float(getattr(channel, "send_timeout", 30.0) or 30.0)
    on_wait = on_wait or (lambda: None)
    pace = {} if pace is None else pace
    if getattr(channel.capabilities, "supports_batch", False):
        return _send_with_batch_api(channel, items, timeout, on_wait)
    if pace.get("fast"):
        return _send_inline(channel, items, on_wait, pace)
    return _send_in_threads(channel, items, max(1, min(threads, len(items))), timeout, on_wait, pace)


def _send_inline(channel, items: list, on_wait, pace: dict) -> list:
    results = []
    fast = True
    clock = time.monotonic
    for index, (message, key) in enumerate(items):
        began = clock()
        try:
            results.append(channel.send(message, key))
        except Exception as exc:  # noqa: BLE001 - recorded on the item's delivery
            results.append(exc)
        if clock() - began >= INLINE_BELOW:
            fast = False
        if index % 64 == 63:
            on_wait()
    pace["fast"] = fast
    return results


def _send_with_batch_api(channel, items: list, timeout: float, on_wait) -> list:
    outcome: dict = {}

    def call():
        try:
            outcome["results"] = list(channel.send_batch(items))
        except Exception as exc:  # noqa: BLE001 - a plugin's error fails its items, never the worker
            outcome["error"] = exc

    thread = threading.Thread(target=call, name=f"send-batch-{channel.name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(min(0.2, max(0.0, deadline - time.monotonic())))
        on_wait()
    if thread.is_alive():
        return [SendTimeout(f"no answer from {channel.name} within {timeout:g} s") for _ in items]
    if "error" in outcome:
        return [outcome["error"] for _ in items]
    results = outcome.get("results", [])
    if len(results) != len(items):
        error = RuntimeError(f"{channel.name}.send_batch returned {len(results)} results for {len(items)} messages")
        return [error for _ in items]
    return results


def _send_in_threads(channel, items: list, threads: int, timeout: float, on_wait, pace: dict) -> list:
    """`threads` runners take items one after another; a runner stuck past `timeout` is replaced.

    Runners pull from a shared counter rather than one future per item: with
    fast channels the per-item bookkeeping of an executor would cost more
    than the sends.
    """
    n = len(items)
    results: list = [None] * n
    started = [0.0] * n
    settled = [False] * n
    lock = threading.Lock()
    all_done = threading.Event()
    counter = itertools.count()
    remaining = [n]

    def settle(index: int, outcome) -> None:
        with lock:
            if settled[index]:
                return  # given up on already: a late answer changes nothing
            settled[index] = True
            results[index] = outcome
            remaining[0] -= 1
            if remaining[0] == 0:
                all_done.set()

    slow = [False]

    def runner() -> None:
        while True:
            index = next(counter)
            if index >= n:
                return
            started[index] = began = time.monotonic()
            message, key = items[index]
            try:
                outcome = channel.send(message, key)
            except Exception as exc:  # noqa: BLE001 - recorded on the item's delivery
                outcome = exc
            if time.monotonic() - began >= INLINE_BELOW:
                slow[0] = True
            settle(index, outcome)

    # Start with one runner and double them while the batch is not done: a fast
    # channel finishes on one thread, a slow gateway gets `threads` within ~30 ms.
    runners, wait = 1, 0.004
    _pool().submit(runner)
    while not all_done.wait(wait):
        on_wait()
        if runners < threads:
            more = min(runners, threads - runners)
            for _ in range(more):
                _pool().submit(runner)
            runners += more
            wait = 0.004 if runners < threads else min(0.2, timeout)
            continue
        now = time.monotonic()
        hung = [i for i in range(n) if started[i] and not settled[i] and now - started[i] > timeout]
        for index in hung:
            log.warning("%s: send %d hung past %.1f s", channel.name, index, timeout)
            settle(index, SendTimeout(f"no answer from {channel.name} within {timeout:g} s"))
            started[index] = 0.0
            _pool(replace_one=True).submit(runner)  # the stuck runner's place
    pace["fast"] = not slow[0]
    return results


_executor: ThreadPoolExecutor | None = None
_stuck = 0
_pool_lock = threading.Lock()


def _pool(replace_one: bool = False) -> ThreadPoolExecutor:
    """The process's send threads, kept between batches; a fresh pool once too many are stuck in hung sends."""
    global _executor, _stuck
    with _pool_lock:
        if replace_one:
            _stuck += 1
        if _executor is None or _stuck >= 16:
            if _executor is not None:
                _executor.shutdown(wait=False)
            _executor = ThreadPoolExecutor(max_workers=128, thread_name_prefix="send")
            _stuck = 0
        return _executor
