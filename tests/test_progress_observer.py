"""Watching and cancelling progress loops from code (issue 16): asirp.progress.Observation.

What the viewer's status line and Cancel button rest on: the loops of ``progress()`` run
in a thread that entered an observation report their steps to it and stop with
``Cancelled`` at the next iteration once it is cancelled; other threads, and code run
without an observation, are untouched.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from tqdm.auto import tqdm

import asirp
from asirp.progress import Cancelled, Observation, Step, observed, observing, progress, quiet


def test_loops_report_their_steps_nested_and_stop_reporting_when_they_end():
    seen: list[Step] = []
    shown: list[str] = []
    with observed(seen.append) as watched:
        assert observing() is watched
        for _ in progress(range(2), desc="images", unit="image"):
            for _ in progress(iter(range(3)), desc="Richardson-Lucy (at most 3)", total=3, unit="iteration"):
                shown.append(watched.describe())
        assert watched.loops == () and watched.stopped is None
    assert observing() is None
    assert [(s.desc, s.done, s.total) for s in seen[:6]] == [
        ("images", 0, 2), ("Richardson-Lucy (at most 3)", 0, 3), ("Richardson-Lucy (at most 3)", 1, 3),
        ("Richardson-Lucy (at most 3)", 2, 3), ("Richardson-Lucy (at most 3)", 3, 3), ("images", 1, 2)]  # fmt: skip
    assert seen[-1] == Step("images", 2, 2, "image") and len(seen) == 1 + 2 * (4 + 1)
    assert shown[4] == "images: 1/2 images · Richardson-Lucy (at most 3): 1/3 iterations"
    assert str(Step("corpus", 1, None, "group")) == "corpus: 1 group" and str(Step("x", 3, 5)) == "x: 3/5"
    assert str(Step("batches", 2, 4, "batch")) == "batches: 2/4 batches"


def test_a_cancel_stops_the_loop_at_its_next_iteration_and_says_where():
    ran: list[int] = []
    with Observation() as watched, pytest.raises(Cancelled):
        for _ in progress(range(5), desc="outer", unit="image"):
            for i in progress(range(100), desc="inner", unit="iteration"):
                ran.append(i)
                if i == 6:
                    watched.cancel()  # another thread would call it the same way
    assert ran == list(range(7))  # the iteration running finishes; the next one does not start
    assert watched.stopped == (Step("outer", 0, 5, "image"), Step("inner", 7, 100, "iteration"))
    assert watched.loops == () and watched.cancelled
    with watched, pytest.raises(Cancelled):  # still cancelled: a loop started afterwards stops before its first iteration
        for _ in progress(range(3), desc="later"):
            pytest.fail("ran an iteration after the cancel")
    with pytest.raises(Cancelled):
        watched.check()  # for work between loops


def test_cancelled_passes_through_handlers_of_ordinary_errors():
    event = threading.Event()  # shared with other code (the viewer's own cancel flag)
    with Observation(cancel=event):
        event.set()
        with pytest.raises(Cancelled):
            try:
                for _ in progress(range(3), desc="guarded"):
                    pass
            except Exception:  # a method that skips a failing candidate must not swallow a cancel
                pytest.fail("Cancelled was caught as an Exception")


def test_observations_are_per_thread():
    """A loop of another thread neither reports to nor is cancelled by this thread's observation, and the reverse."""
    started, release = threading.Event(), threading.Event()
    other: dict[str, object] = {}

    def work() -> None:
        with Observation() as theirs:
            other["observation"] = theirs
            for i in progress(range(3), desc="theirs"):
                if i == 0:
                    started.set()
                    release.wait(10)
            other["done"] = True

    thread = threading.Thread(target=work)
    with Observation() as mine:
        mine.cancel()
        thread.start()
        assert started.wait(10)
        theirs = other["observation"]
        assert isinstance(theirs, Observation) and theirs.describe() == "theirs: 0/3" and mine.loops == ()
        release.set()
        thread.join(10)
        assert other.get("done") and not theirs.cancelled  # my cancel did not stop their loop
        with pytest.raises(Cancelled):
            list(progress(range(3), desc="mine"))
    seen: list[Step] = []
    with Observation(seen.append) as watching:  # a loop of an unobserved thread, while this one observes
        ran: list[int] = []
        thread = threading.Thread(target=lambda: ran.extend(progress(range(4), desc="unwatched")))
        thread.start()
        thread.join(10)
        watching.cancel()
    assert ran == [0, 1, 2, 3] and seen == []


def test_without_an_observation_progress_is_the_bar_it_was():
    bar = progress(range(3), desc="plain")
    assert type(bar) is tqdm and list(bar) == [0, 1, 2]  # the tqdm object itself: no wrapper, no cost per iteration
    with Observation(bars=False):
        wrapped = progress(range(3), desc="watched")
        assert wrapped.disable and list(wrapped) == [0, 1, 2]  # tqdm's attributes pass through
        wrapped.set_postfix(loss="0.1")  # as the training loops call it
    with quiet(), Observation() as watched:  # -q silences the bar, not the observation
        steps = list(progress(range(2), desc="silenced"))
        assert steps == [0, 1] and watched.loops == ()


def test_a_long_richardson_lucy_is_cancelled_within_one_iteration_and_an_observed_run_is_unchanged():
    rng = np.random.default_rng(4)
    frame = asirp.Frame.from_array(rng.poisson(30.0, (64, 64)).astype(np.float32))
    params = {"psf_sigma": 1.5, "stop": "fixed", "iterations": 12, "device": "cpu"}
    plain = asirp.restore(frame, "richardson_lucy", **params)
    seen: list[Step] = []
    with Observation(seen.append):
        watched = asirp.restore(frame, "richardson_lucy", **params)
    np.testing.assert_array_equal(watched.data, plain.data)
    # reported before the first iteration and after each one but the last (the stop rule breaks out of it)
    assert [s.done for s in seen if s.desc == "Richardson-Lucy (at most 12)"] == list(range(12))

    def cancel_at(step: Step) -> None:
        if step.desc.startswith("Richardson-Lucy") and step.done == 7:
            watching.cancel()

    with Observation(cancel_at) as watching, pytest.raises(Cancelled):
        asirp.restore(frame, "richardson_lucy", **{**params, "iterations": 5000})
    assert watching.stopped == (Step("Richardson-Lucy (at most 5000)", 7, 5000, "iteration"),)
