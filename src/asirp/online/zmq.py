"""The Bluesky consumer as a separate process behind Bluesky's 0MQ proxy.

At a beamline the RunEngine publishes its documents to a ``bluesky-0MQ-proxy``
(``Publisher`` -> ``Proxy``); any number of consumers subscribe to the proxy's
output with a :class:`bluesky.callbacks.zmq.RemoteDispatcher`. ``asirp serve --zmq
HOST:PORT PIPELINE.toml`` is such a consumer: it restores every run it hears about,
in its own process, so the acquisition never waits for it.

0MQ publish/subscribe drops messages a subscriber is too slow to take (after its
high-water mark). The consumer takes each document in microseconds (it only queues
it, see :class:`~asirp.online.bluesky.BlueskyConsumer`), so the restoration speed
never causes such drops; documents published while no consumer listens (before it
started, or while it was down) are not received, as with any 0MQ subscriber.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Any

from ..pipeline.core import Pipeline
from ..pipeline.engine import RunSummary
from .bluesky import BlueskyConsumer


def serve_zmq(
    address: str,
    pipeline: Pipeline,
    *,
    output: str | None = None,
    handler_registry: dict[str, Callable[..., Any]] | None = None,
    prefix: bytes = b"",
    on_document: Callable[[str, dict[str, Any]], None] | None = None,
    ready: Callable[[], None] | None = None,
    stop_event: threading.Event | None = None,
) -> RunSummary | None:
    """Consume the documents of a 0MQ proxy until SIGINT/SIGTERM (or ``stop_event``).

    Parameters
    ----------
    address:
        The proxy's output, ``"HOST:PORT"`` or ``"tcp://HOST:PORT"``.
    pipeline:
        The pipeline restoring each run's frames.
    on_document:
        Also called with every document (e.g. to print run starts and stops).
    ready:
        Called once the subscription socket is connected.
    stop_event:
        Set it (from another thread) to stop serving; signals do the same in the main thread.

    Returns
    -------
    RunSummary | None
        The consumer's summary, once every received frame has been written.
    """
    from bluesky.callbacks.zmq import RemoteDispatcher

    dispatcher = RemoteDispatcher(address, prefix=prefix)
    consumer = BlueskyConsumer(pipeline, output=output, handler_registry=handler_registry)
    dispatcher.subscribe(consumer)
    if on_document is not None:
        dispatcher.subscribe(on_document)

    def cancel_all() -> None:
        for task in asyncio.all_tasks(dispatcher.loop):
            task.cancel()

    def stop(*_: Any) -> None:
        dispatcher.loop.call_soon_threadsafe(cancel_all)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    watcher = None
    if stop_event is not None:
        def stop_when_set() -> None:
            stop_event.wait()
            stop()

        watcher = threading.Thread(target=stop_when_set, daemon=True)
        watcher.start()
    if ready is not None:
        dispatcher.loop.call_soon(ready)
    try:
        dispatcher.start()
    except asyncio.CancelledError:  # our stop(): the dispatcher's polling task was cancelled
        pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        summary = consumer.close()  # every frame received is written, also after an error
    return summary
