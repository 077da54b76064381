"""Online sources and the run's sinks they feed: RunEngine callback, 0MQ proxy, watchers, backpressure, crash-safe resume, documents."""

import itertools
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import count
from event_model import Filler, compose_run
from ophyd.sim import NumpySeqHandler, SynSignal, SynSignalWithRegistry

import asirp
from asirp.methods.base import Method, Output
from asirp.online import BlueskyConsumer, FolderWatcher, SWMRWatcher, iterate, serve_zmq
from asirp.pipeline import Item, NexusRowHandler, Pipeline, RunStart, RunStop, Skipped, SpillQueue, read_rows

pytestmark = pytest.mark.timeout(60)

GAUSS = {
    "read": {"kind": "diffraction"},
    "restore": {"method": "gaussian", "params": {"sigma": 1.0}},
    "execution": {"backend": "thread", "workers": 2},
}


class Slow(Method):
    """Identity after 50 ms: a method much slower than the simulated acquisition."""

    name = "slow_identity"
    family = "reference"
    task = "identity after a delay (test)"

    def process(self, frame, params):
        time.sleep(0.05)
        return Output(np.array(frame.data))


def _series(n=6, shape=(48, 48)):
    rng = np.random.default_rng(7)
    return rng.poisson(15.0, (n, *shape)).astype(np.float32)


def _expected(image, sigma=1.0):
    return asirp.restore(asirp.Frame.from_array(image, kind="diffraction"), "gaussian", sigma=sigma).data


def _camera(images, name="cam", **kw):
    """A simulated detector returning image k at its k-th trigger (k from 0, whatever ophyd reads at set-up)."""
    counter = itertools.count()
    current = {"index": 0}

    def read():
        current["index"] = next(counter)
        return images[current["index"] % len(images)].copy()

    cls = SynSignalWithRegistry if "save_path" in kw else SynSignal
    return cls(func=read, name=name, **kw), current


def _data(path):
    with h5py.File(path, "r") as handle:
        return handle["entry/data/sequence"][()], handle["entry/data/data"][()], handle["entry/run_uid"].asstr()[()]


def _check_run(path, uid, images, first_index):
    """Row k holds restored image (first_index + k) and sequence k + 1."""
    sequence, data, run = _data(path)
    assert run == uid
    np.testing.assert_array_equal(sequence, np.arange(1, len(data) + 1))
    for k, row in enumerate(data):
        np.testing.assert_allclose(row, _expected(images[(first_index + k) % len(images)]), rtol=1e-5, atol=1e-5)


# -- the queue between producer and pipeline ------------------------------------------------------------


def test_spill_queue_never_blocks_keeps_order_and_bounds_memory(tmp_path):
    q = SpillQueue(maxsize=2, policy="spill", spill_dir=tmp_path)
    q.put(RunStart("r"))
    for i in range(1, 7):
        q.put(Item("r", i, np.full((4, 4), i, np.float32)))
    q.put(RunStop("r"))
    assert len(q._memory) == 2 and q.spilled_total == 6 and len(list(tmp_path.iterdir())) == 6
    q.close()
    out = list(q)
    assert isinstance(out[0], RunStart) and isinstance(out[-1], RunStop)
    assert [o.seq for o in out[1:-1]] == [1, 2, 3, 4, 5, 6]
    assert [float(o.payload[0, 0]) for o in out[1:-1]] == [1, 2, 3, 4, 5, 6]
    assert not list(tmp_path.iterdir())
    skipping = SpillQueue(maxsize=1, policy="skip")
    for i in range(1, 4):
        skipping.put(Item("r", i, np.zeros((2, 2))))
    skipping.close()
    out = list(skipping)
    assert isinstance(out[0], Item) and all(isinstance(o, Skipped) and "queue full" in o.reason for o in out[1:])
    with pytest.raises(queue.Empty):
        SpillQueue(1).get(timeout=0.01)


# -- RunEngine ------------------------------------------------------------------------------------------------


def test_runengine_inline_images_restored_in_order(tmp_path):
    images = _series(6)
    cam, current = _camera(images)
    consumer = BlueskyConsumer(Pipeline.from_dict(GAUSS), output=str(tmp_path))
    RE = RunEngine({})
    RE.subscribe(consumer)
    (uid,) = RE(count([cam], num=5), sample="CeO2")
    summary = consumer.close(timeout=30)
    assert (summary.written, summary.failed, summary.lost) == (5, 0, 0)
    assert consumer.document_errors == []
    path = tmp_path / f"{uid}.nxs"
    _check_run(path, uid, images, current["index"] - 4)
    with h5py.File(path) as handle:
        assert '"sample": "CeO2"' in handle["entry/run_metadata/data"].asstr()[()]


def test_runengine_external_images_via_resource_and_datum(tmp_path):
    images = _series(4)
    (tmp_path / "det").mkdir()
    cam, current = _camera(images, name="pilatus", save_path=str(tmp_path / "det"))
    consumer = BlueskyConsumer(Pipeline.from_dict(GAUSS), output=str(tmp_path / "out"), handler_registry={"NPY_SEQ": NumpySeqHandler})
    RE = RunEngine({})
    RE.subscribe(consumer)
    (uid,) = RE(count([cam], num=4))
    summary = consumer.close(timeout=30)
    assert (summary.written, summary.lost) == (4, 0)
    _check_run(tmp_path / "out" / f"{uid}.nxs", uid, images, current["index"] - 3)


def test_event_pages_and_other_streams(tmp_path):
    images = _series(3)
    bundle = compose_run()
    primary = bundle.compose_descriptor(name="primary", data_keys={"img": {"dtype": "array", "shape": [48, 48], "source": "sim"}})
    baseline = bundle.compose_descriptor(name="baseline", data_keys={"T": {"dtype": "number", "shape": [], "source": "sim"}})
    consumer = BlueskyConsumer(Pipeline.from_dict(GAUSS), output=str(tmp_path))
    consumer("start", bundle.start_doc)
    consumer("descriptor", primary.descriptor_doc)
    consumer("descriptor", baseline.descriptor_doc)
    consumer("event", baseline.compose_event(data={"T": 300.0}, timestamps={"T": 0.0}))
    page = primary.compose_event_page(data={"img": list(images)}, timestamps={"img": [0.0] * 3}, seq_num=[1, 2, 3], validate=False)
    consumer("event_page", page)
    consumer("stop", bundle.compose_stop())
    consumer("bogus", {})
    derived = compose_run(metadata={"asirp_source_run": bundle.start_doc["uid"]})  # asirp's own output: ignored
    derived_descriptor = derived.compose_descriptor(name="primary", data_keys={"img": {"dtype": "array", "shape": [48, 48], "source": "x"}})
    consumer("start", derived.start_doc)
    consumer("descriptor", derived_descriptor.descriptor_doc)
    consumer("event", derived_descriptor.compose_event(data={"img": images[0]}, timestamps={"img": 0.0}, validate=False))
    consumer("stop", derived.compose_stop())
    summary = consumer.close(timeout=30)
    assert (summary.received, summary.written) == (3, 3) and consumer.document_errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{bundle.start_doc['uid']}.nxs"]
    _check_run(tmp_path / f"{bundle.start_doc['uid']}.nxs", bundle.start_doc["uid"], images, 0)


@pytest.mark.parametrize("policy", ["spill", "skip"])
def test_slow_pipeline_never_blocks_the_runengine(tmp_path, policy):
    images = _series(4, (32, 32))
    cam, _ = _camera(images)
    pipe = Pipeline.from_dict({"execution": {"backend": "local", "queue_size": 2, "overflow": policy}}, method=Slow())
    consumer = BlueskyConsumer(pipe, output=str(tmp_path), spill_dir=str(tmp_path / "spill"))
    RE = RunEngine({})
    RE.subscribe(consumer)
    started = time.perf_counter()
    (uid,) = RE(count([cam], num=20))
    acquisition = time.perf_counter() - started
    held = consumer.queue.max_depth
    summary = consumer.close(timeout=30)
    # 20 frames x 50 ms of restoration = 1 s; the RunEngine did not wait for it
    assert acquisition < 0.6, acquisition
    assert len(consumer.queue._memory) == 0 and summary.lost == 0
    sequence = read_rows(tmp_path / f"{uid}.nxs")[0]
    with h5py.File(tmp_path / f"{uid}.nxs") as handle:
        errors = dict(zip(handle["entry/failed/sequence"][()], handle["entry/failed/error"].asstr()[()], strict=True))
    assert consumer.queue.max_in_memory <= 2  # frames held in memory never exceed the queue size
    if policy == "spill":
        assert consumer.queue.spilled_total > 0 and held > 2  # the backlog went to disk, not to memory
        np.testing.assert_array_equal(sequence, np.arange(1, 21))
        assert not errors
    else:
        assert summary.skipped > 0 and summary.written + summary.skipped == 20
        assert sorted(set(sequence) | set(errors)) == list(range(1, 21)) and not set(sequence) & set(errors)
        assert all("queue full" in reason for reason in errors.values())


# -- 0MQ -----------------------------------------------------------------------------------------------------------


def _proxy():
    """A Bluesky 0MQ proxy on loopback ephemeral ports: (input address, output address)."""
    from bluesky.callbacks.zmq import Proxy

    proxy = Proxy("127.0.0.1", "127.0.0.1")
    threading.Thread(target=proxy.start, daemon=True).start()
    return tuple(str(p) if "://" in str(p) else f"127.0.0.1:{p}" for p in (proxy.in_port, proxy.out_port))


def _handshake(publisher, seen, timeout=15.0):
    """Publish probe runs until the consumer reports one (0MQ subscriptions take a moment to propagate)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = compose_run(metadata={"purpose": "probe"})
        publisher("start", probe.start_doc)
        publisher("stop", probe.compose_stop())
        time.sleep(0.1)
        if seen():
            return
    raise AssertionError("the consumer never received a document")


def test_zmq_remote_dispatcher_consumer_in_a_thread(tmp_path):
    from bluesky.callbacks.zmq import Publisher

    in_address, out_address = _proxy()
    images = _series(5)
    cam, current = _camera(images)
    starts, stop = [], threading.Event()
    outcome = {}

    def serve():
        outcome["summary"] = serve_zmq(
            out_address,
            Pipeline.from_dict(GAUSS),
            output=str(tmp_path),
            on_document=lambda name, doc: starts.append(doc["uid"]) if name == "start" else None,
            stop_event=stop,
        )

    server = threading.Thread(target=serve)
    server.start()
    publisher = Publisher(in_address)
    _handshake(publisher, lambda: bool(starts))
    RE = RunEngine({})
    RE.subscribe(publisher)
    (uid,) = RE(count([cam], num=5))
    deadline = time.monotonic() + 20
    while not (tmp_path / f"{uid}.nxs").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    server.join(20)
    publisher.close()
    assert outcome["summary"].written == 5 and outcome["summary"].lost == 0
    _check_run(tmp_path / f"{uid}.nxs", uid, images, current["index"] - 4)


def _spawn(args, cwd):
    env = {**os.environ, "ASIRP_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _read_until(process, text, timeout):
    lines = []
    result = {}

    def reader():
        for line in process.stdout:
            lines.append(line)
            if text in line:
                result["ok"] = True
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    assert result.get("ok"), "".join(lines)
    return lines


def test_asirp_serve_zmq_as_a_separate_process_stops_on_sigterm(tmp_path):
    from bluesky.callbacks.zmq import Publisher

    in_address, out_address = _proxy()
    (tmp_path / "p.toml").write_text("[read]\nkind = 'diffraction'\n[restore]\nmethod = 'gaussian'\n[write]\noutput = 'out'\n")
    server = _spawn(["-m", "asirp.cli", "serve", "p.toml", "--zmq", out_address, "--backend", "local"], tmp_path)
    try:
        _read_until(server, "listening", 45)
        publisher = Publisher(in_address)
        started = []
        probe_reader = threading.Thread(target=lambda: started.append(_read_until(server, "started", 20)), daemon=True)
        probe_reader.start()
        _handshake(publisher, lambda: bool(started))
        images = _series(4)
        cam, current = _camera(images)
        RE = RunEngine({})
        RE.subscribe(publisher)
        (uid,) = RE(count([cam], num=4))
        deadline = time.monotonic() + 20
        while not (tmp_path / "out" / f"{uid}.nxs").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
        assert server.returncode == 0, output
        publisher.close()
    finally:
        if server.poll() is None:
            server.kill()
    _check_run(tmp_path / "out" / f"{uid}.nxs", uid, images, current["index"] - 3)


# -- watchers ------------------------------------------------------------------------------------------------------


def test_swmr_watcher_follows_a_growing_dataset(tmp_path):
    images = _series(6)
    path = tmp_path / "scan.h5"
    handle = h5py.File(path, "w", libver="latest")
    data = handle.create_dataset("entry/data/data", (0, 48, 48), np.float32, maxshape=(None, 48, 48), chunks=(1, 48, 48))
    handle.swmr_mode = True

    def detector():
        for k, image in enumerate(images):
            data.resize(k + 1, axis=0)
            data[k] = image
            handle.flush()
            time.sleep(0.03)

    writer = threading.Thread(target=detector)
    writer.start()
    watcher = SWMRWatcher(path, "/entry/data/data", poll_s=0.02, expected=6)
    summary = Pipeline.from_dict(GAUSS).run(watcher, output=tmp_path / "out")
    writer.join()
    handle.close()
    assert (summary.written, summary.lost) == (6, 0)
    _check_run(tmp_path / "out" / "scan.nxs", "scan", images, 0)


def test_folder_watcher_takes_files_once_complete(tmp_path):
    images = _series(4)
    folder = tmp_path / "frames"
    folder.mkdir()

    def detector():
        for k, image in enumerate(images):
            np.save(folder / f"img_{k:05d}.npy", image)
            time.sleep(0.03)

    writer = threading.Thread(target=detector)
    writer.start()
    watcher = FolderWatcher(folder, "*.npy", poll_s=0.02, expected=4)
    summary = Pipeline.from_dict(GAUSS).run(watcher, output=tmp_path / "out")
    writer.join()
    assert (summary.written, summary.lost) == (4, 0)
    _check_run(tmp_path / "out" / "frames.nxs", "frames", images, 0)
    # an offline run over the same folder finds every frame done
    again = Pipeline.from_dict(GAUSS).run_files([folder], output=tmp_path / "out", progress=False)
    assert (again.resumed, again.written) == (4, 0)


# -- crash safety ------------------------------------------------------------------------------------------------


CONSUMER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from asirp.methods.base import Method, Output
    from asirp.pipeline import Pipeline

    class SlowScale(Method):
        name = "slow_scale"
        family = "reference"
        task = "multiply by 2 after a delay (test)"

        def process(self, frame, params):
            time.sleep(0.02)
            return Output(2 * np.array(frame.data))

    pipe = Pipeline.from_dict({"read": {"kind": "image"}, "execution": {"backend": "thread", "workers": 2}}, method=SlowScale())
    summary = pipe.run_files([sys.argv[1]], output=sys.argv[2], progress=False)
    print("SUMMARY", summary.written, summary.resumed, summary.failed, summary.lost, flush=True)
    """
)


def test_consumer_killed_mid_run_resumes_with_every_frame_exactly_once(tmp_path):
    n = 60
    stack = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 24, 24), np.float32)
    with h5py.File(tmp_path / "stack.h5", "w") as handle:
        handle["data"] = stack
    (tmp_path / "consumer.py").write_text(CONSUMER)
    partial = tmp_path / "out" / "stack.nxs.partial"
    first = _spawn(["consumer.py", "stack.h5", "out"], tmp_path)
    deadline = time.monotonic() + 45
    committed = 0
    while time.monotonic() < deadline and first.poll() is None:
        if partial.exists():
            try:
                committed = read_rows(partial)[1]
            except OSError:
                committed = 0
            if committed >= 8:
                break
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert first.returncode == -signal.SIGKILL and committed >= 8
    assert not (tmp_path / "out" / "stack.nxs").exists()
    second = _spawn(["consumer.py", "stack.h5", "out"], tmp_path)
    output, _ = second.communicate(timeout=45)
    assert second.returncode == 0, output
    written, resumed, failed, lost = (int(v) for v in output.split("SUMMARY")[1].split())
    assert resumed >= committed and written + resumed == n and (failed, lost) == (0, 0)
    sequence, data, _ = _data(tmp_path / "out" / "stack.nxs")
    np.testing.assert_array_equal(sequence, np.arange(1, n + 1))  # each frame once, in order
    np.testing.assert_array_equal(data[:, 0, 0], 2 * np.arange(n))  # each row is its own frame, restored
    assert not partial.exists() and not (tmp_path / "out" / "stack.nxs.journal").exists()


# -- derived documents and snapshots ------------------------------------------------------------------------------


def test_restored_frames_reemitted_as_a_valid_bluesky_run(tmp_path):
    images = _series(3)
    documents = []
    pipe = Pipeline.from_dict({**GAUSS, "write": {"documents": True, "png_every_s": 0.001}}, emit=lambda name, doc: documents.append((name, doc)))
    summary = pipe.run(iterate(images, run="source-run", metadata={"scan_id": 7}), output=tmp_path)
    assert summary.written == 3
    names = [name for name, _ in documents]
    assert names == ["start", "descriptor", "resource", "datum", "event", "datum", "event", "datum", "event", "stop"]
    start = documents[0][1]
    assert start["asirp_source_run"] == "source-run" and start["scan_id"] == 7
    assert documents[-1][1]["exit_status"] == "success"
    filler = Filler({"ASIRP_NEXUS_ROW": NexusRowHandler}, inplace=False)
    filled = []
    for name, doc in documents:
        _, out = filler(name, doc)
        if name == "event":
            filled.append(out)
    for k, event in enumerate(filled):
        assert event["data"]["source_seq_num"] == k + 1 and event["data"]["method"] == "gaussian"
        np.testing.assert_allclose(event["data"]["restored"], _expected(images[k]), rtol=1e-5, atol=1e-5)
    png = tmp_path / "latest_source-run.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nexus_writer_refuses_other_shapes_and_reads_partial_files(tmp_path):
    frames = [np.ones((8, 8), np.float32), np.ones((9, 8), np.float32), np.ones((8, 8), np.float32)]
    summary = Pipeline.from_dict({"restore": {"method": "identity"}, "execution": {"backend": "local"}}).run(
        iterate(frames, run="mixed"), output=tmp_path
    )
    assert (summary.written, summary.failed) == (2, 1)
    assert "frames of shape (8, 8) already written, got (9, 8)" in summary.errors["mixed:2"]
    np.testing.assert_array_equal(read_rows(Path(summary.files["mixed"]))[0], [1, 3])
