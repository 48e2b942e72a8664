"""Handing a batch of messages to a channel plugin: concurrently, each with a timeout.

Slow gateways are the norm (an SMS provider answering in 20-200 ms), so one
worker sends a batch through a pool of threads instead of one blocking send at
a time; a channel with a batch API (`capabilities.supports_batch`) gets its own
`send_batch` call instead. A plugin that raises fails only its own item; one
that hangs past `channel.send_timeout` is given up on, its item reported as
`SendTimeout`, and the items still waiting move to fresh threads so a stuck
thread can't starve the rest.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)


class SendTimeout(Exception):
    """The plugin did not answer within the channel's send_timeout; the outcome is unknown."""


def send_messages(channel, items: list, threads: int = 32) -> list:
    """Send each (message, idempotency_key) of `items`; return a SendResult or an exception per item."""
    if not items:
        return []
    timeout = float(getattr(channel, "send_timeout", 30.0) or 30.0)
    if getattr(channel.capabilities, "supports_batch", False):
        return _send_with_batch_api(channel, items, timeout)
    return _send_in_threads(channel, items, max(1, min(threads, len(items))), timeout)


def _send_with_batch_api(channel, items: list, timeout: float) -> list:
    outcome: dict = {}

    def call():
        try:
            outcome["results"] = list(channel.send_batch(items))
        except Exception as exc:  # noqa: BLE001 - a plugin's error fails its items, never the worker
            outcome["error"] = exc

    thread = threading.Thread(target=call, name=f"send-batch-{channel.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return [SendTimeout(f"no answer from {channel.name} within {timeout:g} s") for _ in items]
    if "error" in outcome:
        return [outcome["error"] for _ in items]
    results = outcome.get("results", [])
    if len(results) != len(items):
        error = RuntimeError(f"{channel.name}.send_batch returned {len(results)} results for {len(items)} messages")
        return [error for _ in items]
    return results


def _send_in_threads(channel, items: list, threads: int, timeout: float) -> list:
    results: list = [None] * len(items)
    started: dict[int, float] = {}

    def send_one(index: int):
        started[index] = time.monotonic()
        message, key = items[index]
        try:
            return channel.send(message, key)
        except Exception as exc:  # noqa: BLE001 - recorded on the item's delivery
            return exc

    executor = _executor(threads)
    futures = {executor.submit(send_one, i): i for i in range(len(items))}
    try:
        while futures:
            done, _ = wait(futures, timeout=min(0.2, timeout), return_when=FIRST_COMPLETED)
            for future in done:
                results[futures.pop(future)] = future.result()
            now = time.monotonic()
            hung = [f for f, i in futures.items() if i in started and now - started[i] > timeout and not f.done()]
            if not hung:
                continue
            for future in hung:
                index = futures.pop(future)
                log.warning("%s: send %d hung past %.1f s", channel.name, index, timeout)
                results[index] = SendTimeout(f"no answer from {channel.name} within {timeout:g} s")
            # The hung threads stay busy; move what has not started to fresh ones.
            waiting = {f: i for f, i in futures.items() if f.cancel()}
            executor.shutdown(wait=False)
            executor = _executor(threads)
            for future, index in waiting.items():
                del futures[future]
                futures[executor.submit(send_one, index)] = index
    finally:
        executor.shutdown(wait=False)
    return results


def _executor(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
