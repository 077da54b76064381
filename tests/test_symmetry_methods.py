"""The symmetry denoiser, its network, training, shipped weights, baselines and CLI."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

import asirp
from asirp import Frame, InputError, synth
from asirp.analysis import psnr
from asirp.methods.base import registry
from asirp.symmetry import INVERSION, Pairing, ScatteringPlane, analyze

torch = pytest.importorskip("torch")

from asirp.methods.symmetry import training, weights  # noqa: E402
from asirp.methods.symmetry.denoise import denoise_image  # noqa: E402
from asirp.methods.symmetry.inputs import smae_partner  # noqa: E402
from asirp.methods.symmetry.network import RECEPTIVE_RADIUS, CompactUNet  # noqa: E402


def test_receptive_field_radius_bounds_every_alignment():
    torch.manual_seed(0)
    net = CompactUNet()
    for p in net.parameters():
        torch.nn.init.uniform_(p, 1e-3, 2e-3)  # positive weights: no cancellation hides a path
    x = torch.ones(1, 4, 112, 112, requires_grad=True)
    reach = 0
    for dy, dx in ((0, 0), (3, 5), (7, 7), (4, 1)):
        x.grad = None
        y, xx = 56 + dy, 56 + dx
        net(x)[0, 0, y, xx].backward()
        rows, cols = torch.nonzero(x.grad[0].abs().sum(0) > 0, as_tuple=True)
        reach = max(reach, int((rows - y).abs().max()), int((cols - xx).abs().max()))
    assert 30 < reach <= RECEPTIVE_RADIUS


def test_partners_are_used_and_their_absence_falls_back_to_the_own_neighbourhood():
    """With no operation the network works from the neighbourhood alone; partners change (and improve) it."""
    rng = np.random.default_rng(0)
    truth = np.full((128, 128), 3.0)
    data = rng.poisson(truth).astype(np.float32)
    valid = np.ones(truth.shape, bool)
    plane = ScatteringPlane.flat(truth.shape, (64.3, 63.8))
    net = weights.load_weights(None, "symmetry")[0]
    alone = denoise_image(net, data, valid, Pairing.build(plane, []), 3.0, local_check=False)
    paired = denoise_image(net, data, valid, Pairing.build(plane, [INVERSION]), 3.0, local_check=False)
    assert not alone.partnered.any() and paired.partnered.mean() > 0.5
    assert np.isfinite(alone.data).all() and np.abs(alone.data.mean() - 3.0) < 0.15
    err = lambda out: float(np.mean((out.data - truth) ** 2))  # noqa: E731
    assert err(paired) < err(alone) < np.mean((data - truth) ** 2)


def test_self_ensemble_is_the_mean_over_flips_and_makes_the_denoiser_flip_equivariant():
    from asirp.methods.symmetry.denoise import FLIPS, expected_relative, run_network
    from asirp.methods.symmetry.inputs import symmetry_inputs

    rng = np.random.default_rng(1)
    truth = 2.0 + np.add.outer(np.linspace(0, 3, 64), np.linspace(0, 1, 48))
    data = rng.poisson(truth).astype(np.float32)
    valid = np.ones(truth.shape, bool)
    partner = rng.poisson(truth).astype(np.float32)
    inputs = symmetry_inputs(data, valid, partner, np.ones(truth.shape, np.float32), float(data.mean()))
    net = weights.load_weights(None, "symmetry")[0]
    single = np.exp(run_network(net, inputs))
    assert np.allclose(expected_relative(net, inputs, ensemble=False), single, rtol=1e-5)
    flip = lambda a, f: a[..., ::-1 if f[0] else 1, ::-1 if f[1] else 1]  # noqa: E731
    by_hand = np.mean([flip(np.exp(run_network(net, np.ascontiguousarray(flip(inputs, f)))), f) for f in FLIPS], axis=0)
    ensembled = expected_relative(net, inputs, ensemble=True)
    assert np.allclose(ensembled, by_hand, rtol=1e-4)
    assert not np.allclose(ensembled, single, rtol=1e-3)  # the network is not flip-equivariant by itself
    for f in FLIPS[1:]:
        assert np.allclose(expected_relative(net, np.ascontiguousarray(flip(inputs, f)), ensemble=True),
                           flip(ensembled, f), rtol=1e-4)
    with pytest.raises(asirp.ParameterError, match="ensemble"):
        asirp.restore(Frame(np.ones((32, 32), np.float32), kind="diffraction"), "symmetry", ensemble="four")


def test_photon_split_gives_independent_halves_and_the_right_target_scale():
    corpus = training.SyntheticCorpus(1, shape=(128, 128), seed=424243)
    rng = np.random.default_rng(0)
    sample = training.build_sample(corpus.items[0], "symmetry", rng, 64, dose=4.0)
    seen = sample.inputs[0] ** 2 * sample.scale  # own channel back to counts
    assert np.allclose(seen, np.round(seen), atol=1e-3)
    # Half split with p in SPLIT_RANGE: the target's dose is (1 - p) / p of the input's.
    ratio = sample.target.sum() / max(seen.sum(), 1.0)
    assert ratio == pytest.approx(sample.target_factor, rel=0.15)


@pytest.mark.parametrize("dose", [0.02, 1.0, 30.0])
def test_photon_split_of_measured_counts_is_binomial(dose):
    rng = np.random.default_rng(1)
    counts = rng.poisson(dose, (200, 300)).astype(np.float32)
    valid = rng.random(counts.shape) > 0.1
    split = training.photon_split(counts, valid, rng)
    seen = split.seen
    assert np.array_equal(seen + split.target, counts) and np.all(seen >= 0) and np.all(seen <= counts)
    assert np.all(seen[~valid] == 0)
    p = 1.0 / (1.0 + split.factor)
    # The kept photons: binomial with probability p, within 5 standard deviations.
    n = counts[valid].sum()
    assert abs(seen[valid].sum() - p * n) < 5 * math.sqrt(n * p * (1 - p)) + 1
    assert split.scale == pytest.approx(max(seen[valid].mean(), 1e-3), rel=1e-6)


def test_tiny_training_run_lowers_the_heldout_loss(tmp_path):
    corpus = training.SyntheticCorpus(3, shape=(128, 128), seed=424242)
    rng = np.random.default_rng(0)
    held = [training.build_sample(item, "symmetry", rng, 64, dose=5.0) for item in corpus.items]
    ckpt = tmp_path / "run.ckpt"
    result = training.train(corpus, steps=25, batch_size=2, patch=64, lr=3e-3, heldout=held, eval_every=25,
                            checkpoint=ckpt, threads=1)
    first, last = result.heldout_loss[0][1], result.heldout_loss[-1][1]
    assert last < first
    # Resuming continues from the checkpoint instead of starting again.
    resumed = training.train(corpus, steps=27, batch_size=2, patch=64, heldout=held, checkpoint=ckpt, threads=1)
    assert resumed.steps == 27 and len(resumed.train_loss) == 27
    path = training.save_weights(resumed, tmp_path / "tiny.pt", "symmetry", {"corpus": "test"})
    net, digest, meta = weights.load_weights(path, "symmetry")
    assert meta["steps"] == 27 and len(digest) == 64
    with pytest.raises(InputError, match="trained with the 'symmetry' recipe"):
        weights.load_weights(path, "supervised")


def test_symmetric_average_gives_3_db_on_flat_poisson_data():
    rng = np.random.default_rng(0)
    truth = np.full((256, 256), 20.0)
    frame = Frame(rng.poisson(truth).astype(np.float32), kind="diffraction")
    out = asirp.restore(frame, "symmetric_average", operations=["inversion"], center=(128.0, 128.0))
    gain = psnr(truth, out, data_range=20.0) - psnr(truth, frame, data_range=20.0)
    assert gain == pytest.approx(10 * math.log10(2), abs=0.1)


def test_smae_pairing_is_the_published_flip_with_zeros_masked():
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    partner, ok = smae_partner(data, np.ones((3, 4), bool), None)
    assert np.array_equal(partner, data[::-1, ::-1])
    assert not ok[2, 3] and ok.sum() == 11  # the partner of the corner is the zero count
    shifted, ok2 = smae_partner(data, np.ones((3, 4), bool), (1.0, 2.0))  # centre rounded: index i pairs with 1 - i
    assert shifted[0, 0] == data[1, 3] and not ok2[2].any()


def test_bm3d_is_registered_exactly_when_importable():
    try:
        import bm3d  # noqa: F401

        available = True
    except ImportError:
        available = False
    assert ("bm3d" in registry()) == available


def test_azimuthal_median_is_exact_on_noise_free_isotropic_data():
    result = synth.diffraction_frame("saxs", shape=(96, 96), dose=50.0, seed=2, mask="beamstop")
    out = asirp.restore(result.truth, "azimuthal_median", statistic="mean")
    valid = result.truth.valid
    rel = np.abs(out.data - result.truth.data)[valid] / result.truth.data[valid]
    assert np.median(rel) < 0.02


# -- with the shipped weights ---------------------------------------------------------------
needs_weights = pytest.mark.skipif(not weights.shipped_path("symmetry").exists(), reason="shipped weights not built")


@needs_weights
def test_shipped_weights_load_with_verified_checksum(tmp_path, monkeypatch):
    for recipe in ("symmetry", "supervised", "smae"):
        _, digest, meta = weights.load_weights(None, recipe)
        assert digest == weights.SHIPPED[recipe][1]
        assert meta["corpus"] == ("synthetic" if recipe == "smae" else "procedural")
    broken = tmp_path / "symmetry_unet.pt"
    shutil.copy(weights.shipped_path("symmetry"), broken)
    with broken.open("r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(weights, "shipped_path", lambda name: broken)
    with pytest.raises(InputError, match="corrupted"):
        weights.load_weights(None, "symmetry")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="not a readable asirp weights file"):
        weights.load_weights(garbage, "symmetry")


@needs_weights
def test_symmetry_denoises_low_dose_frames_fine_tunes_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("ASIRP_CACHE_DIR", str(tmp_path / "cache"))
    training._TUNED.clear()
    result = synth.diffraction_frame("textured", shape=(192, 192), dose=0.5, beam_center=(90.3, 101.7), tilt_deg=2.0, seed=11)
    out = asirp.restore(result.noisy, "symmetry", fine_tune_steps=20, fine_tune_s=60.0, heldout_score=True)
    step = out.history[-1]
    assert psnr(result.truth, out) > psnr(result.truth, result.noisy) + 8.0
    assert psnr(result.truth, out) > psnr(result.truth, asirp.restore(result.noisy, "symmetric_average")) + 1.0
    assert step.weights_sha256 == weights.SHIPPED["symmetry"][1]
    assert step.notes["partner_fraction"] > 0.5 and "used symmetry partners" in step.notes["mode"]
    tuning = step.notes["fine_tuning"]
    assert tuning["steps"] == tuning["steps_asked"] == 20 and not tuning["stopped_early"] and not tuning["cached"]
    assert len(list((tmp_path / "cache" / "symmetry").glob("*.pt"))) == 1
    # The held-out photon-split deviance is an honest score: ~1 per pixel at best, finite.
    assert 0.0 < step.notes["selfsupervised_loss"] < 2.0
    assert out.data[~result.noisy.valid].max() == 0
    again = asirp.restore(result.noisy, "symmetry", fine_tune_steps=20, fine_tune_s=60.0)
    assert again.history[-1].notes["fine_tuning"]["cached"] and "selfsupervised_loss" not in again.history[-1].notes
    training._TUNED.clear()  # a new process finds the tuned weights on disk
    reloaded = asirp.restore(result.noisy, "symmetry", fine_tune_steps=20, fine_tune_s=60.0)
    assert reloaded.history[-1].notes["fine_tuning"]["cached"]
    np.testing.assert_array_equal(reloaded.data, out.data)


@needs_weights
def test_fine_tuning_is_reproducible_and_a_cut_short_run_is_not_reused(tmp_path, monkeypatch):
    """A fixed number of seeded steps gives the same tuned network; the time bound stops early and says so."""
    result = synth.diffraction_frame("powder", shape=(96, 96), dose=1.0, seed=4)
    outputs = []
    for run in ("a", "b"):  # two fresh caches: trained twice from scratch
        monkeypatch.setenv("ASIRP_CACHE_DIR", str(tmp_path / run))
        training._TUNED.clear()
        outputs.append(asirp.restore(result.noisy, "symmetry", fine_tune_steps=6, fine_tune_s=60.0))
    assert not outputs[1].history[-1].notes["fine_tuning"]["cached"]
    np.testing.assert_allclose(outputs[0].data, outputs[1].data, rtol=1e-5, atol=1e-6)
    monkeypatch.setenv("ASIRP_CACHE_DIR", str(tmp_path / "short"))
    training._TUNED.clear()
    short = asirp.restore(result.noisy, "symmetry", fine_tune_steps=100_000, fine_tune_s=0.3).history[-1]
    assert short.notes["fine_tuning"]["stopped_early"] and short.notes["fine_tuning"]["steps"] < 100_000
    training._TUNED.clear()  # the next process trains again instead of trusting the cut-short weights
    assert not asirp.restore(result.noisy, "symmetry", fine_tune_steps=100_000,
                             fine_tune_s=0.3).history[-1].notes["fine_tuning"]["cached"]


@needs_weights
def test_frame_with_little_symmetry_is_denoised_not_refused():
    rng = np.random.default_rng(3)
    yy, xx = np.indices((128, 128))
    truth = 2.0 + 30.0 * np.exp(-((yy - 20) ** 2 + (xx - 100) ** 2) / 50.0)  # one off-centre blob: no symmetry
    frame = Frame(rng.poisson(truth).astype(np.float32), kind="diffraction")
    out = asirp.restore(frame, "symmetry", fine_tune_s=0, center=(110.0, 20.0))  # nothing is symmetric about it
    notes = out.history[-1].notes
    assert "own neighbourhood" in notes["mode"] and notes["partner_fraction"] < 0.9  # partners only where they exist
    assert psnr(truth, out, data_range=32.0) > psnr(truth, frame, data_range=32.0) + 3.0


@needs_weights
@pytest.mark.parametrize("method", ["symmetry", "symmetric_average"])
def test_asymmetric_peak_keeps_its_area(method):
    result = synth.diffraction_frame("powder", shape=(192, 192), dose=1.0, seed=12, mask="gaps")
    yy, xx = np.indices((192, 192)) + 0.5
    cy, cx = result.meta["beam_center_px"]
    py, px = cy + 50.0, cx + 20.0
    peak = 400.0 * np.exp(-0.5 * ((yy - py) ** 2 + (xx - px) ** 2) / 4.0) / (8 * math.pi)
    valid = result.noisy.valid
    base = result.noisy
    injected = Frame(np.where(valid, base.data + np.random.default_rng(2).poisson(peak), 0).astype(np.float32), valid,
                     "diffraction", geometry=base.geometry)
    window = ((yy - py) ** 2 + (xx - px) ** 2 <= 36.0) & valid
    kept = (asirp.restore(injected, method).data - asirp.restore(base, method).data)[window].sum()
    assert kept / peak[window].sum() >= 0.9
    assert not analyze(injected).holds_at(int(py), int(px))


@needs_weights
def test_stack_with_temporal_neighbours_and_fallbacks():
    series = synth.diffraction_series(3, event_frame=None, pattern="saxs", shape=(128, 128), dose=0.5, seed=4)
    single = asirp.restore(series.noisy, "symmetry", fine_tune_s=0)
    temporal = asirp.restore(series.noisy, "symmetry", fine_tune_s=0, temporal=1)
    assert single.shape == series.noisy.shape
    assert psnr(series.truth, temporal) > psnr(series.truth, single)
    assert single.history[-1].notes["partner_fraction"] > 0.9


@needs_weights
def test_learned_baselines_run_and_all_zero_frames_are_refused():
    result = synth.diffraction_frame("textured", shape=(128, 128), dose=1.0, seed=5)
    out = asirp.restore(result.noisy, "supervised")
    assert psnr(result.truth, out) > psnr(result.truth, result.noisy) + 5.0
    # The published recipe drops zero counts from its loss, so at ~1 count/px it
    # overestimates the intensity (E[x | x > 0] > E[x]): the weakness it is kept for.
    smae = asirp.restore(result.noisy, "smae_halves")
    valid = result.noisy.valid
    assert np.isfinite(smae.data).all() and smae.data[valid].mean() > 1.2 * result.truth.data[valid].mean()
    zeros = Frame(np.zeros((64, 64), np.float32), kind="diffraction")
    for method in ("symmetry", "symmetric_average", "supervised"):
        with pytest.raises(InputError, match="every measured pixel is zero"):
            asirp.restore(zeros, method)


@needs_weights
def test_cli_fine_tunes_from_the_shipped_weights(tmp_path):
    from asirp.cli import main

    paths = []
    for seed in (1, 2):
        r = synth.diffraction_frame("powder", shape=(96, 96), dose=2.0, seed=seed, mask="none")
        path = tmp_path / f"f{seed}.npy"
        np.save(path, r.noisy.data)
        paths.append(str(path))
    out = tmp_path / "model.pt"
    code = main(["-q", "train", "symmetry", *paths, "-o", str(out), "--steps", "3", "--patch", "64", "--batch", "2",
                 "--eval-every", "3", "--threads", "1"])
    assert code == 0 and out.exists()
    _, _, meta = weights.load_weights(out, "symmetry")
    assert meta["corpus"] == "user frames" and meta["init"].endswith("symmetry_unet.pt")
    assert main(["-q", "train", "symmetry", *paths, "-o", str(out)]) == 2  # exists, no --force


def test_cli_pretrains_on_the_procedural_corpus(tmp_path):
    from asirp.cli import main
    from asirp.methods.symmetry import procedural

    batch = procedural.ProceduralCorpus("cpu", size=96, bank=4, seed=1).batch(2, 32)
    assert batch["inputs"].shape == (2, 5, 32, 32) and torch.isfinite(batch["inputs"]).all()
    assert bool((batch["target_factor"] > 0).all()) and batch["mask"].sum() > 0
    out = tmp_path / "pre.pt"
    code = main(["-q", "train", "symmetry", "--procedural", "--minutes", "0.02", "--batch", "2", "--patch", "32",
                 "-o", str(out)])
    assert code == 0
    _, _, meta = weights.load_weights(out, "symmetry")
    assert meta["corpus"] == "procedural" and meta["steps"] >= 1


@needs_weights
def test_fine_tuning_skips_non_counts_and_replaces_a_corrupt_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("ASIRP_CACHE_DIR", str(tmp_path / "cache"))
    training._TUNED.clear()
    net, digest, _ = weights.load_weights(None, "symmetry")
    plane = ScatteringPlane.flat((64, 64), (32.2, 31.7))
    pairing = Pairing.build(plane, [INVERSION])
    valid = np.ones((64, 64), bool)
    scaled = np.random.default_rng(0).poisson(4.0, (64, 64)).astype(np.float32) * 0.37  # integrating detector
    same, info = training.fine_tuned(net, digest, [(scaled, valid)], pairing, 1.5, 10, 60.0)
    assert same is net and info["steps"] == 0 and "not photon counts" in info["skipped"]
    counts = np.round(scaled / 0.37)
    _, first = training.fine_tuned(net, digest, [(counts, valid)], pairing, 4.0, 5, 60.0)
    cache = list((tmp_path / "cache" / "symmetry").glob("*.pt"))
    assert first["steps"] >= 1 and len(cache) == 1
    cache[0].write_bytes(b"truncated")  # a corrupt entry is never trusted: retrained and replaced
    training._TUNED.clear()
    _, second = training.fine_tuned(net, digest, [(counts, valid)], pairing, 4.0, 5, 60.0)
    assert not second["cached"] and second["steps"] >= 1 and cache[0].stat().st_size > 1000


def test_an_analysis_pinned_as_parameters_reproduces_the_run_and_skips_the_scores(monkeypatch):
    """A series (or auto's scoring copies) pairs with the operations and centre found once: the result
    equals the analysing run, and the pinned run scores no operation."""
    frame = synth.diffraction_frame("powder", shape=(96, 96), dose=5.0, seed=4).noisy
    frame = Frame(frame.data, frame.valid, frame.kind)  # no geometry: the centre is searched, then pinned
    method = registry()["symmetry"]()
    pinned = method.series_parameters(frame, method.validate(fine_tune_s=0.0))
    assert pinned["operations"] and len(pinned["center"]) == 2
    analysed = asirp.restore(frame, "symmetry", fine_tune_s=0.0)
    fixed = asirp.restore(frame, "symmetry", fine_tune_s=0.0, **pinned)
    np.testing.assert_allclose(fixed.data, analysed.data, rtol=1e-5, atol=1e-6)
    assert fixed.history[-1].notes["operations"] and not fixed.history[-1].notes["symmetry"]["scores"]
    assert analysed.history[-1].notes["symmetry"]["scores"]
    # a frame where nothing is usable pins "none": no partners, no analysis per frame
    from asirp.symmetry import SymmetryReport

    monkeypatch.setattr(SymmetryReport, "usable", lambda self, min_score=0.3: [])
    assert method.series_parameters(frame, method.validate(fine_tune_s=0.0))["operations"] == ["none"]
    monkeypatch.undo()
    alone = asirp.restore(frame, "symmetry", fine_tune_s=0.0, operations=["none"]).history[-1].notes
    assert alone["partner_fraction"] == 0.0 and alone["operations"] == []


@needs_weights
def test_rings_keep_their_measured_counts_so_azimuthal_profiles_stay_unbiased():
    from asirp.symmetry.rings import Rings

    center = (128.3, 127.6)
    yy, xx = np.indices((256, 256)) + 0.5
    radius = np.hypot(yy - center[0], xx - center[1])
    truth = 0.3 + sum(6.0 * np.exp(-0.5 * ((radius - r) / 0.8) ** 2) for r in range(20, 121, 15))  # sharp rings
    frame = Frame(np.random.default_rng(1).poisson(truth).astype(np.float32), kind="diffraction")
    plain = asirp.restore(frame, "symmetry", fine_tune_s=0, conserve_rings=False, center=center)
    kept = asirp.restore(frame, "symmetry", fine_tune_s=0, center=center)
    note = kept.history[-1].notes["ring_counts"]
    assert note["applied"] and 0 < note["corrected_fraction"] <= 1 and note["rings"] > 100
    assert plain.history[-1].notes["ring_counts"] == {"applied": False}

    rings = Rings.of(ScatteringPlane.flat(truth.shape, center))

    def totals(image: np.ndarray) -> np.ndarray:
        return np.bincount(rings.index.ravel(), np.asarray(image, np.float64).ravel(), rings.count)

    expected = totals(truth)
    populated = expected > 50

    def chi2(image: np.ndarray) -> float:  # ring totals against the truth, in units of the measurement's noise
        return float(np.mean(((totals(image) - expected) / np.sqrt(expected))[populated] ** 2))

    # the network alone blurs the rings radially; kept totals are as unbiased as the measurement itself
    assert chi2(kept.data) < 0.75 * chi2(plain.data)
    assert chi2(kept.data) < 1.2 * chi2(frame.data)
    assert psnr(truth, kept) > psnr(truth, plain)


def test_ring_counts_of_a_right_estimate_are_barely_changed():
    from asirp.symmetry.rings import Rings

    rings = Rings.of(ScatteringPlane.flat((128, 128), (64.0, 64.0)))
    truth = np.full((128, 128), 0.05)  # sparse: a few photons per ring
    measured = np.random.default_rng(5).poisson(truth).astype(np.float64)
    valid = np.ones(truth.shape, bool)
    restored, report = rings.conserve_counts(truth, measured, valid)
    assert report.moved_fraction < 0.1 and restored.dtype == np.float32
    assert np.all(restored >= 0)


def test_fine_tuning_crops_use_the_precomputed_partner_mean_within_its_memory_bound(monkeypatch):
    plane = ScatteringPlane.flat((96, 96), (47.3, 48.1))
    pairing = Pairing.build(plane, [INVERSION])
    counts = np.random.default_rng(2).poisson(2.0, (96, 96)).astype(np.float32)
    source = training._ImageSource([(counts, np.ones((96, 96), bool))], pairing)
    assert source._partner_mean(0) is not None
    monkeypatch.setattr(training._ImageSource, "MAX_PARTNER_MEAN_BYTES", 0)
    bounded = training._ImageSource([(counts, np.ones((96, 96), bool))], pairing)
    assert bounded._partner_mean(0) is None
    a = source.sample(np.random.default_rng(5), 64)
    b = bounded.sample(np.random.default_rng(5), 64)  # the direct path: the same sample
    np.testing.assert_allclose(a.inputs, b.inputs, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.target, b.target)
