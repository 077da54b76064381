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
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from ..errors import ParameterError
from ..pipeline.core import Pipeline
from ..pipeline.engine import RunSummary
from .bluesky import BlueskyConsumer

log = logging.getLogger("asirp.online")


def parse_address(text: str, option: str = "--zmq") -> str:
    """A 0MQ proxy's address ``HOST:PORT`` (or ``tcp://HOST:PORT``) as given, checked: one line naming ``option`` otherwise.

    ``asirp serve --zmq`` and ``asirp view --raw zmq:HOST:PORT`` check their address with it
    before anything starts (a bad port would otherwise surface as a traceback from the dispatcher).
    """
    rest = text.strip()
    rest = rest[len("tcp://"):] if rest.startswith("tcp://") else rest
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ParameterError(f"{option} expects HOST:PORT of a 0MQ proxy's output (port 1 to 65535), got {text!r}")
    return text.strip()


class DispatcherThread:
    """A :class:`bluesky.callbacks.zmq.RemoteDispatcher` of ``address`` feeding ``callbacks`` from a daemon thread.

    ``dispatcher.start()`` blocks its thread for as long as it listens; here that is a
    thread of its own, so neither the caller nor the RunEngine publishing ever waits for
    it. :meth:`stop` ends it from any thread as :func:`serve_zmq` does (the polling task
    cancelled inside the dispatcher's loop) and waits for the thread. ``received`` counts
    the documents taken; ``connected`` is set once the subscription socket is connected.
    """

    def __init__(self, address: str, callbacks: list[Callable[[str, dict[str, Any]], Any]], *, prefix: bytes = b"",
                 name: str = "asirp-zmq"):
        from bluesky.callbacks.zmq import RemoteDispatcher

        self.address = address
        self.dispatcher = RemoteDispatcher(address, prefix=prefix, loop=asyncio.new_event_loop())
        for callback in callbacks:
            self.dispatcher.subscribe(callback)
        self.dispatcher.subscribe(self._count)
        self.received = 0
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def _count(self, name: str, doc: dict[str, Any]) -> None:
        self.received += 1

    def _run(self) -> None:
        self.dispatcher.loop.call_soon(self.connected.set)
        try:
            self.dispatcher.start()
        except asyncio.CancelledError:  # stop(): the polling task was cancelled
            pass
        except Exception as exc:  # never raise in a thread nobody joins: say it
            log.warning("0MQ dispatcher of %s stopped: %s", self.address, exc)

    def start(self) -> DispatcherThread:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and wait (at most ``timeout`` s) for the thread to end; harmless when not started or already ended."""
        if not self._thread.is_alive():
            return
        loop = self.dispatcher.loop

        def cancel_all() -> None:
            for task in asyncio.all_tasks(loop):
                task.cancel()

        try:
            loop.call_soon_threadsafe(cancel_all)
        except RuntimeError:  # the loop closed meanwhile: the thread is ending
            pass
        self._thread.join(timeout)


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
