"""Live data: sources that follow an acquisition and feed a :class:`~asirp.pipeline.Pipeline`.

This package sits above :mod:`asirp.pipeline`: its sources yield the pipeline's items
(:mod:`asirp.pipeline.items`) framed by run start/stop markers, for :meth:`Pipeline.run`
or an :class:`~asirp.pipeline.Engine`, and its adapters drive a pipeline:

* :class:`BlueskyConsumer`: a RunEngine callback (documents inline or by
  resource/datum) that never blocks acquisition; :func:`serve_zmq` runs it behind
  Bluesky's 0MQ proxy in its own process (``asirp serve --zmq HOST:PORT``);
* :class:`FolderWatcher` and :class:`SWMRWatcher`: files as detectors write them;
* :func:`iterate`: frames or arrays from any iterable, optionally paced.

What a run writes (its NeXus file, restored frames as documents, PNG snapshots,
feedback) and the queue between a producer and the pipeline (:class:`~asirp.pipeline.SpillQueue`)
belong to the pipeline: :mod:`asirp.pipeline.sinks`, :mod:`asirp.pipeline.spill`.
"""

from .bluesky import BlueskyConsumer
from .iterate import iterate
from .watch import FolderWatcher, SWMRWatcher
from .zmq import serve_zmq

__all__ = [
    "BlueskyConsumer",
    "FolderWatcher",
    "SWMRWatcher",
    "iterate",
    "serve_zmq",
]
