"""Super-resolution: forward model, tiling, weights, the four methods, training."""

import time

import numpy as np
import pytest
import torch
from scipy import ndimage

import asirp
from asirp import Frame, InputError, ParameterError, PixelSize, synth
from asirp.analysis import psnr
from asirp.history import sha256_of_file
from asirp.methods.sr import degradation as deg
from asirp.methods.sr.fca import FCANet
from asirp.methods.sr.rrdb import RRDBNet
from asirp.methods.sr.runtime import dihedral, undo_dihedral
from asirp.methods.sr.tiling import network_tiles, tile_starts, tiled_apply
from asirp.methods.sr.training import TrainConfig, train, write_weights
from asirp.methods.sr.weights import SHIPPED_SHA256, fca_payload, shipped_path
from asirp.progress import set_progress

set_progress(False)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One thread: on a small shared machine torch's thread pool is 10-100x slower on these small images."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def batch(array):
    return torch.from_numpy(np.array(array, dtype=np.float32))[None, None]


def make_case(scale=2, sigma=0.6, side=48, seed=3, photons=1000.0):
    """Held-out tomography projections (phantom seed 3 is in no corpus) degraded by the SR forward model."""
    volume = synth.tomo_phantom(side * scale, n_slices=side, seed=seed)
    truth = synth.tomo_projections(volume, n_angles=1, beam_fwhm_px=0.0, photons=photons, seed=seed).truth.data[0]
    coarse = deg.Degradation.from_beam(scale, sigma)(batch(truth)).numpy()[0, 0]
    noisy = np.random.default_rng(seed).poisson(coarse).astype(np.float32)
    return Frame(noisy, kind="tomo_projection"), truth


# -- forward model ---------------------------------------------------------------------------
def test_blur_equals_scipy_gaussian_filter_and_keeps_constants():
    image = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    ours = deg.gaussian_blur(batch(image), 1.3).numpy()[0, 0]
    # torch's "reflect" padding is scipy's "mirror" (edge pixel not repeated)
    np.testing.assert_allclose(ours, ndimage.gaussian_filter(image, 1.3, mode="mirror", truncate=4.0), atol=2e-5)
    flat = deg.Degradation.from_beam(4, 0.9)(torch.full((2, 1, 32, 32), 7.5))
    np.testing.assert_allclose(flat.numpy(), 7.5, rtol=1e-6)
    assert flat.shape == (2, 1, 8, 8)


def test_cpu_and_gpu_blurs_agree():
    images = torch.rand(2, 1, 30, 20)
    kernels = deg.gaussian_kernels(torch.tensor([0.8, 2.0]))
    np.testing.assert_allclose(deg._blur_torch(images, kernels), deg.gaussian_blur(images, torch.tensor([0.8, 2.0])), atol=1e-6)


def test_per_image_widths_and_area_average():
    images = torch.rand(3, 1, 16, 16)
    sigmas = torch.tensor([0.0, 0.7, 1.5])
    together = deg.gaussian_blur(images, sigmas)
    for i, s in enumerate(sigmas):
        np.testing.assert_allclose(together[i : i + 1], deg.gaussian_blur(images[i : i + 1], float(s)), atol=1e-6)
    np.testing.assert_array_equal(together[0], images[0])  # width 0: no blur
    area = deg.area_downsample(torch.arange(16.0).reshape(1, 1, 4, 4), 2)
    np.testing.assert_array_equal(area.numpy()[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_noise_gain_is_the_variance_of_degraded_white_noise():
    model = deg.Degradation.from_beam(2, 0.7)
    noise = torch.randn(1, 1, 512, 512, generator=torch.Generator().manual_seed(0))
    assert model(noise).var().item() == pytest.approx(model.noise_gain(), rel=0.05)


def test_back_projection_restores_data_consistency_and_the_mean():
    rng = np.random.default_rng(1)
    truth = batch(ndimage.gaussian_filter(rng.random((64, 64)), 2) * 100 + 20)
    model = deg.Degradation.from_beam(2, 0.8)
    measured = torch.poisson(model(truth), generator=torch.Generator().manual_seed(1))
    valid = torch.ones_like(measured, dtype=torch.bool)
    noise = deg.NoiseModel(True, torch.zeros(1))
    start = torch.nn.functional.interpolate(measured, scale_factor=2, mode="nearest") * 0.8  # biased guess
    fixed, record = deg.enforce_consistency(start, measured, valid, model, noise, tolerance=1.0, nonnegative=True)
    assert record.chi2_before[0] > 2 and record.chi2_after[0] <= 1.1 and record.iterations >= 1
    untouched, record = deg.enforce_consistency(fixed, measured, valid, model, noise)  # already within tolerance
    assert record.iterations == 0
    assert fixed.mean().item() == pytest.approx(measured.mean().item(), rel=1e-5)


def test_fit_sigma_recovers_the_beam():
    truth = batch(np.kron(np.random.default_rng(2).random((16, 16)), np.ones((8, 8))))
    measured = deg.Degradation.from_beam(2, 0.8)(truth)
    assert deg.fit_sigma(truth, measured, torch.ones_like(measured, dtype=torch.bool), 2) == pytest.approx(0.8, abs=0.05)


def test_dihedral_transforms_invert():
    x = torch.rand(1, 1, 5, 7)
    for k in range(8):
        np.testing.assert_array_equal(undo_dihedral(dihedral(x, k), k), x)


# -- tiling ----------------------------------------------------------------------------------
def test_tile_starts_cover_evenly():
    starts, size = tile_starts(744, 512, 16)
    assert starts == [0, 364] and size == 380
    assert tile_starts(100, 256, 16) == ([0], 100)


def test_tiling_is_exact_for_a_local_network_and_batches_stacks():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3, padding=1),
                              torch.nn.PixelShuffle(2))
    images = torch.rand(3, 1, 70, 90)
    whole = network_tiles(net, images, 2, tile=512, overlap=8, desc="t")
    tiled = network_tiles(net, images, 2, tile=32, overlap=8, desc="t", batch_size=5)
    assert tiled.shape == (3, 1, 140, 180)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_tiling_rejects_bad_sizes():
    with pytest.raises(ParameterError, match="overlap"):
        tiled_apply(lambda t: t, torch.zeros(1, 1, 10, 10), 1, tile=16, overlap=8)


# -- lanczos ---------------------------------------------------------------------------------
def test_lanczos_conserves_counts_pixel_size_and_mask():
    valid = np.ones((20, 24), dtype=bool)
    valid[5:8, 3:9] = False
    frame = Frame(np.full((20, 24), 40.0), valid, kind="xrf_map", pixel_size=PixelSize.square(10))
    out = asirp.restore(frame, "lanczos", scale=4)
    assert out.shape == (80, 96) and out.pixel_size == PixelSize.square(2.5)
    np.testing.assert_allclose(out.data[out.valid], 40.0 / 16, rtol=1e-5)  # counts per output pixel
    np.testing.assert_array_equal(out.valid, np.kron(valid, np.ones((4, 4), dtype=bool)))


def test_lanczos_interpolates_a_band_limited_image_on_the_pixel_area_grid():
    y, x = np.mgrid[:96, :96]

    def wave(yy, xx):
        return np.sin(2 * np.pi * (0.06 * xx + 0.04 * yy)) + 2

    coarse = Frame(wave(y[::2, ::2], x[::2, ::2]).astype(np.float32))  # point samples at even indices
    # coarse pixel j covers fine pixels 2j and 2j+1, whose centres lie 0.5 index before and after the sample
    expected = wave(y - 0.5, x - 0.5)
    out = asirp.restore(coarse, "lanczos", scale=2).data
    error = np.abs(out - expected)[8:-8, 8:-8]
    assert error.max() < 0.02 and error.mean() < 0.006  # a half-pixel shift would give ~0.2


def test_geometry_follows_the_finer_pixels():
    result = synth.diffraction_frame("powder", shape=(64, 64), dose=5.0, seed=1)
    out = asirp.restore(result.noisy, "lanczos", scale=2)
    before = np.array(result.noisy.geometry.beam_center_px())
    np.testing.assert_allclose(out.geometry.beam_center_px(), 2 * before, atol=1e-6)
    assert out.geometry.detector_shape == (128, 128)


# -- fca_sr ----------------------------------------------------------------------------------
def test_shipped_weights_match_their_recorded_checksums():
    for scale in (2, 4):
        assert sha256_of_file(shipped_path(scale)) == SHIPPED_SHA256[scale]
        assert shipped_path(scale).stat().st_size < 5_000_000


def test_fca_sr_shapes_pixel_size_provenance_and_counts():
    result = synth.mesh_grid_map("AG175", shape=(40, 36), step_um=25.0, seed=4)
    for scale in (2, 4):
        out = asirp.restore(result.noisy, "fca_sr", scale=scale)
        assert out.shape == (40 * scale, 36 * scale)
        assert out.pixel_size == PixelSize.square(25.0 / scale)
        assert out.history[-1].weights_sha256 == SHIPPED_SHA256[scale]
        assert out.data.sum() == pytest.approx(result.noisy.data.sum(), rel=1e-4)  # total counts conserved
        assert out.data.min() >= 0


def test_fca_sr_output_reproduces_the_input_through_the_forward_model():
    frame, _ = make_case()
    out = asirp.restore(frame, "fca_sr", scale=2, psf_sigma=0.6)
    notes = out.history[-1].notes["consistency"]
    assert notes["chi2_after"][0] <= deg.CHI2_TOLERANCE and not notes["psf_sigma_fitted"]
    # recompute independently: D(output) vs input with the Poisson variance of these counts
    model = deg.Degradation.from_beam(2, 0.6)
    expected = model(batch(out.data)).numpy()[0, 0]
    chi2 = np.mean((frame.data - expected) ** 2 / np.maximum(expected, 0.05))
    assert 0.5 <= chi2 <= deg.CHI2_TOLERANCE  # within the noise, and not fitting it
    assert out.data.mean() == pytest.approx(frame.data.mean(), rel=1e-5)  # tomo_projection: intensities


def test_fca_sr_beats_bicubic_on_held_out_tomography():
    frame, truth = make_case(side=48)
    fca = psnr(truth, asirp.restore(frame, "fca_sr", scale=2).data)
    bicubic = psnr(truth, asirp.restore(frame, "bicubic", scale=2).data)
    assert fca > bicubic + 1.0


def test_fca_sr_masked_pixels_are_filled_then_masked_again():
    frame, _ = make_case(side=32)
    valid = np.ones(frame.shape, dtype=bool)
    valid[10:14, 5:20] = False
    garbage = np.where(valid, frame.data, 1e6).astype(np.float32)
    masked = Frame(garbage, valid, kind="tomo_projection")
    out = asirp.restore(masked, "fca_sr", scale=2)
    np.testing.assert_array_equal(out.valid, np.kron(valid, np.ones((2, 2), dtype=bool)))
    assert out.data[out.valid].max() < 2 * frame.data.max()  # the hole's content did not leak
    assert out.data[out.valid].mean() == pytest.approx(frame.data[valid].mean(), rel=1e-5)


def test_fca_sr_tiled_equals_untiled_within_tolerance():
    frame, _ = make_case(side=64)
    whole = asirp.restore(frame, "fca_sr", scale=2, consistency=False)
    tiled = asirp.restore(frame, "fca_sr", scale=2, consistency=False, tile=40, overlap=12)
    span = float(np.ptp(whole.data))
    assert np.abs(tiled.data - whole.data).max() < 0.02 * span
    assert psnr(whole.data, tiled.data) > 45


def test_fca_sr_stack_equals_images_one_by_one():
    frame, _ = make_case(side=32)
    stack = asirp.stack([frame, Frame(frame.data[::-1].copy(), kind="tomo_projection")])
    both = asirp.restore(stack, "fca_sr", scale=2)
    np.testing.assert_allclose(both.data[0], asirp.restore(frame, "fca_sr", scale=2).data, rtol=1e-4, atol=1e-2)


def test_fca_sr_weight_file_errors(tmp_path):
    frame = Frame(np.random.default_rng(0).random((16, 16)).astype(np.float32))
    corrupted = tmp_path / "corrupted.pt"
    corrupted.write_bytes(shipped_path(2).read_bytes()[:1000])
    with pytest.raises(InputError, match="corrupted.pt: cannot read network weights"):
        asirp.restore(frame, "fca_sr", weights=str(corrupted))
    wrong = tmp_path / "wrong.pt"
    torch.save(fca_payload(FCANet(2, channels=8), {}) | {"arch": {"scale": 2, "channels": 16, "groups": 2, "blocks": 2}}, wrong)
    with pytest.raises(InputError, match="do not fit the architecture"):
        asirp.restore(frame, "fca_sr", weights=str(wrong))
    other_scale = tmp_path / "x4.pt"
    torch.save(fca_payload(FCANet(4, channels=8), {}), other_scale)
    with pytest.raises(InputError, match="for x4, not x2"):
        asirp.restore(frame, "fca_sr", weights=str(other_scale))
    not_fca = tmp_path / "rrdb.pth"
    torch.save({"params_ema": RRDBNet(num_feat=4, num_block=1, num_grow_ch=2).state_dict()}, not_fca)
    with pytest.raises(InputError, match="not an asirp FCA-SR weights file"):
        asirp.restore(frame, "fca_sr", weights=str(not_fca))
    with pytest.raises(InputError, match="not found"):
        asirp.restore(frame, "fca_sr", weights=str(tmp_path / "missing.pt"))


def test_shipped_weights_are_verified(tmp_path, monkeypatch):
    """A shipped file whose digest differs from the recorded one is refused."""
    from asirp.methods.sr import weights

    fake = tmp_path / "fca_sr_x2.pt"
    torch.save(fca_payload(FCANet(2, channels=8), {}), fake)
    monkeypatch.setattr(weights, "shipped_path", lambda scale: fake)
    with pytest.raises(InputError, match="corrupted .*reinstall"):
        asirp.restore(Frame(np.ones((16, 16))), "fca_sr")


def test_parameter_errors():
    frame = Frame(np.ones((16, 16)))
    with pytest.raises(ParameterError, match="scale"):
        asirp.restore(frame, "fca_sr", scale=3)
    with pytest.raises(ParameterError, match="psf_sigma or beam_fwhm, not both"):
        asirp.restore(frame, "fca_sr", psf_sigma=1.0, beam_fwhm="50um")
    with pytest.raises(ParameterError, match="pixel size"):
        asirp.restore(frame, "fca_sr", beam_fwhm="50um")


# -- rrdb_sr ---------------------------------------------------------------------------------
def test_rrdb_sr_without_weights_explains_what_to_do():
    with pytest.raises(ParameterError, match=r"RealESRGAN_x4plus\.pth.*weights=PATH"):
        asirp.restore(Frame(np.ones((16, 16))), "rrdb_sr")


@pytest.mark.parametrize("native", [4, 2])
def test_rrdb_sr_runs_user_weights(tmp_path, native):
    torch.manual_seed(0)
    net = RRDBNet(num_in_ch=3, num_out_ch=3, scale=native, num_feat=8, num_block=2, num_grow_ch=4)
    path = tmp_path / "tiny.pth"
    torch.save({"params_ema": net.state_dict(), "params": {}}, path)
    frame = Frame(np.random.default_rng(1).poisson(30, (15, 17)).astype(np.float32), kind="xrf_map")
    out = asirp.restore(frame, "rrdb_sr", scale=2, weights=str(path))
    assert out.shape == (30, 34)
    assert out.history[-1].weights_sha256 == sha256_of_file(path)
    assert out.history[-1].notes["native_scale"] == native
    assert out.data.sum() == pytest.approx(frame.data.sum(), rel=1e-4)


def test_rrdb_sr_refuses_foreign_weights(tmp_path):
    path = tmp_path / "fca.pt"
    torch.save(fca_payload(FCANet(2, channels=8), {}), path)
    with pytest.raises(InputError, match="not Real-ESRGAN RRDBNet weights"):
        asirp.restore(Frame(np.ones((16, 16))), "rrdb_sr", weights=str(path))


# -- zssr ------------------------------------------------------------------------------------
def test_zssr_respects_its_time_budget_and_conserves_counts():
    result = synth.mesh_grid_map("AG300", shape=(48, 48), step_um=25.0, seed=5)
    start = time.perf_counter()
    out = asirp.restore(result.noisy, "zssr", scale=2, beam_fwhm="50um", time_budget_s=2.0)
    elapsed = time.perf_counter() - start
    notes = out.history[-1].notes
    # training (with its inference reserve) stops at the budget; the rest is imports, inference, consistency
    assert notes["training_s"] <= 2.0 + 0.5 and elapsed < 2.0 + 5.0
    assert notes["stopped_by"] in ("time_budget_s", "early stopping (held-out loss stopped improving)")
    assert notes["degradation_sigma_px"] == pytest.approx(2 * 50 / 2.3548 / 25, rel=1e-3)
    assert out.shape == (96, 96) and out.data.sum() == pytest.approx(result.noisy.data.sum(), rel=1e-4)
    assert notes["held_out_l1_best"] <= notes["held_out_l1_initial"]


def test_zssr_refuses_tiny_images():
    with pytest.raises(InputError, match="too small for zssr"):
        asirp.restore(Frame(np.ones((6, 6))), "zssr", scale=2)


@pytest.mark.slow
def test_zssr_beats_bicubic_on_a_mesh_map():
    truth = synth.mesh_grid_map("AG175", shape=(256, 256), step_um=12.5, beam_fwhm_um=0.0, counts=60.0, background=4.0, seed=7).truth.data
    coarse = deg.Degradation.from_beam(2, 0.85)(batch(truth)).numpy()[0, 0]
    frame = Frame(np.random.default_rng(7).poisson(coarse).astype(np.float32), kind="xrf_map")
    zssr = psnr(truth / 4, asirp.restore(frame, "zssr", scale=2, psf_sigma=0.85, time_budget_s=20).data)
    bicubic = psnr(truth / 4, asirp.restore(frame, "bicubic", scale=2).data)
    assert zssr > bicubic + 0.5


# -- training --------------------------------------------------------------------------------
def tiny_config(**changes):
    settings = dict(scale=2, steps=4, batch=2, patch=12, channels=8, groups=1, blocks=1, checkpoint_every=2, seed=1)
    return TrainConfig(**(settings | changes))


def tiny_images():
    rng = np.random.default_rng(0)
    return [ndimage.gaussian_filter(rng.random((40, 40)), 1.5).astype(np.float32) for _ in range(3)]


def test_training_resumes_exactly_and_writes_loadable_weights(tmp_path):
    images = tiny_images()
    straight = train(tiny_config(), images, checkpoint=tmp_path / "a.ckpt")
    train(tiny_config(), images, checkpoint=tmp_path / "b.ckpt", time_limit_s=0.0)  # stops after one step
    resumed = train(tiny_config(), images, checkpoint=tmp_path / "b.ckpt", resume=True)
    assert straight.steps == resumed.steps == 4
    for key, value in straight.net.state_dict().items():
        np.testing.assert_allclose(value, resumed.net.state_dict()[key], atol=1e-6)
    path = write_weights(resumed, tmp_path / "mine.pt")
    out = asirp.restore(Frame(images[0]), "fca_sr", scale=2, weights=str(path))
    assert out.history[-1].weights_sha256 == sha256_of_file(path)
    assert "4 steps" in out.history[-1].notes["trained"]


def test_training_refuses_a_checkpoint_of_other_settings(tmp_path):
    images = tiny_images()
    train(tiny_config(), images, checkpoint=tmp_path / "c.ckpt")
    with pytest.raises(InputError, match="other settings"):
        train(tiny_config(learning_rate=1e-4), images, checkpoint=tmp_path / "c.ckpt", resume=True)
    with pytest.raises(InputError, match="at least 48 x 48"):
        train(tiny_config(patch=24), images, checkpoint=tmp_path / "d.ckpt")


def test_train_sr_command_fine_tunes_on_user_images(tmp_path):
    from asirp.cli import main

    image = tmp_path / "map.npy"
    np.save(image, tiny_images()[0] * 100)
    out = tmp_path / "fine.pt"
    args = ["-q", "train", "sr", str(image), "--out", str(out), "--init", "none", "--channels", "8", "--groups", "1",
            "--blocks", "1", "--steps", "2", "--patch", "12", "--batch", "2", "--psf-sigma", "0.8"]
    assert main(args) == 0
    from asirp.methods.sr.weights import load_fca

    net, _, record = load_fca(out, scale=2)
    assert record["config"]["sigma_min"] == record["config"]["sigma_max"] == 0.8
    assert main(args) == 2  # exists: refused without --force


@pytest.mark.slow
def test_training_from_scratch_learns_to_beat_bicubic(tmp_path):
    from asirp.methods.sr.corpus import pretraining_corpus

    images = pretraining_corpus(size="tiny")
    config = tiny_config(steps=600, batch=8, patch=16, channels=16, learning_rate=3e-3, checkpoint_every=1000)
    result = train(config, images, checkpoint=tmp_path / "s.ckpt", validation=images)
    assert result.record["validation_gain_over_bicubic_db"] > 0.7


@pytest.mark.parametrize("method", ["bicubic", "lanczos"])
def test_upsampling_a_frame_with_a_detector_geometry_keeps_a_fitting_geometry(method):
    """The detector is seen with pixels `scale` times smaller: same beam centre in metres, twice in pixels."""
    frame = asirp.synth.diffraction_frame("powder", shape=(48, 40), dose=5.0, seed=2).noisy
    assert frame.geometry is not None
    out = asirp.restore(frame, method, scale=2)
    assert out.shape == (96, 80)
    out.geometry.check_fits(out.shape)
    before, after = frame.geometry.beam_center_px(), out.geometry.beam_center_px()
    np.testing.assert_allclose(after, 2 * np.asarray(before), atol=1e-6)
