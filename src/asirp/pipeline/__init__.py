"""Pipelines: ordered steps (read -> [xrf_map] -> restore -> analyse -> write) run offline or online.

* :class:`Pipeline`: built from a TOML file (:meth:`Pipeline.from_toml`), a dict or
  code; runs offline over files, folders and HDF5 stacks (:meth:`Pipeline.run_files`,
  ``asirp run PIPELINE.toml INPUT...``) or over any live stream (:meth:`Pipeline.run`).
* :mod:`.config`: the validated configuration; unknown keys are errors.
* :mod:`.engine`: bounded in-flight work, results written in order, failures
  recorded, resume after a crash, graceful stop.
* :mod:`.backends`: ``local``, ``thread`` and ``dask`` (``distributed``) execution.
* :mod:`.sinks`: what a run writes: one resumable NeXus file per run (the layout of
  :mod:`asirp.io.nexus`), restored frames as Bluesky documents, PNG snapshots, feedback.
* :mod:`.spill`: the queue between a live source and the engine (bounded memory, spill
  or skip when full).

Live sources that feed a pipeline (RunEngine, 0MQ, folder and SWMR watchers) are in
:mod:`asirp.online`, which sits above this package; the analyses behind feedback
(change detection, ROI proposals, ring profiles) in :mod:`asirp.feedback`, below it.

The method a frame gets (the selector's decision, the per-frame time budget) is a
:class:`asirp.select.Plan`, the same as for :func:`asirp.restore`.
"""

import importlib
from typing import Any

#: Public names and the submodule defining each; loaded on first use (PEP 562), so that
#: building the ``asirp`` command line (which imports :mod:`asirp.pipeline.cli`) stays cheap.
_EXPORTS = {
    "DaskBackend": "backends", "LocalBackend": "backends", "ThreadBackend": "backends", "make_backend": "backends",
    "PipelineConfig": "config", "load_config": "config", "parse_config": "config",
    "Pipeline": "core",
    "Engine": "engine", "RunSummary": "engine",
    "DatumRef": "items", "FileRef": "items", "Item": "items", "Result": "items", "RunStart": "items",
    "RunStop": "items", "Skipped": "items",
    "DocumentEmitter": "sinks", "FeedbackPublisher": "sinks", "FeedbackSink": "sinks", "NexusRowHandler": "sinks",
    "NexusSink": "sinks", "RunWriter": "sinks", "SnapshotSink": "sinks", "read_rows": "sinks", "run_file_name": "sinks",
    "SpillQueue": "spill",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
