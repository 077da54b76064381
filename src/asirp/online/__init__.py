"""Live data: sources that follow an acquisition and sinks for what the pipeline makes of it.

Sources (each yields items framed by run start/stop markers, for :meth:`Pipeline.run`
or an :class:`~asirp.pipeline.Engine`):

* :class:`BlueskyConsumer`: a RunEngine callback (documents inline or by
  resource/datum) that never blocks acquisition; :func:`serve_zmq` runs it behind
  Bluesky's 0MQ proxy in its own process (``asirp serve --zmq HOST:PORT``);
* :class:`FolderWatcher` and :class:`SWMRWatcher`: files as detectors write them;
* :func:`iterate`: frames or arrays from any iterable, optionally paced.

Sinks: :class:`NexusSink` (one crash-safe, resumable NeXus file per run),
:class:`DocumentEmitter` (restored frames as a derived Bluesky run),
:class:`SnapshotSink` (PNG of the latest frame). The queue between a producer and
the pipeline is a :class:`SpillQueue` (bounded memory, spill or skip when full).
"""

from .bluesky import BlueskyConsumer
from .documents import DocumentEmitter, NexusRowHandler
from .iterate import iterate
from .nexus_sink import NexusSink, RunWriter, read_rows, run_file_name
from .snapshot import SnapshotSink
from .spill import SpillQueue
from .watch import FolderWatcher, SWMRWatcher
from .zmq import serve_zmq

__all__ = [
    "BlueskyConsumer",
    "DocumentEmitter",
    "FolderWatcher",
    "NexusRowHandler",
    "NexusSink",
    "RunWriter",
    "SWMRWatcher",
    "SnapshotSink",
    "SpillQueue",
    "iterate",
    "read_rows",
    "run_file_name",
    "serve_zmq",
]
