"""What a pipeline run makes: the sinks the engine writes each result to, in sequence order.

* :class:`NexusSink` (:mod:`.run_file`): one crash-safe, resumable NeXus file per run,
  in the layout of :mod:`asirp.io.nexus`; the engine always writes there first;
* :class:`DocumentEmitter` (:mod:`.documents`): restored frames as a derived Bluesky
  run, images by reference to the run file (:class:`NexusRowHandler` reads them back);
* :class:`SnapshotSink` (:mod:`.snapshot`): a PNG of the latest frame;
* :class:`FeedbackSink` (:mod:`.feedback`): change detection and ROI proposals
  (:mod:`asirp.feedback`) on restored frames, delivered by a :class:`FeedbackPublisher`
  to callbacks and as Bluesky documents.
"""

from .documents import DocumentEmitter, Emit, NexusRowHandler
from .feedback import ChangeTracker, FeedbackPublisher, FeedbackSink, motor_grid
from .run_file import NexusSink, RunWriter, read_rows, run_file_name
from .snapshot import SnapshotSink

__all__ = [
    "ChangeTracker",
    "DocumentEmitter",
    "Emit",
    "FeedbackPublisher",
    "FeedbackSink",
    "NexusRowHandler",
    "NexusSink",
    "RunWriter",
    "SnapshotSink",
    "motor_grid",
    "read_rows",
    "run_file_name",
]
