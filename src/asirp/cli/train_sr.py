"""``asirp train sr``: pretrain FCA-SR on the synthetic corpus, or fine-tune it on your images.

Examples
--------
Fine-tune the shipped x2 network on a beamline's own maps (self-supervised: the maps
are re-degraded with your beam to make the training inputs), 20 minutes at most,
resumable::

    asirp train sr maps/*.h5 --scale 2 --psf-sigma 0.85 --out my_fca_x2.pt --time-limit 20
    asirp train sr maps/*.h5 --scale 2 --psf-sigma 0.85 --out my_fca_x2.pt --resume
    asirp restore scan.h5 -m fca_sr -p weights=my_fca_x2.pt

Pretrain on the synthetic X-ray-like corpus (``asirp.methods.sr.corpus``) as the
shipped weights were made (one CPU thread, ~14 + 7 minutes)::

    asirp train sr --scale 2 --steps 4784 --threads 1 --out fca_sr_x2.pt
    asirp train sr --scale 4 --steps 5232 --threads 1 --init fca_sr_x2.pt --lr 1e-3 --out fca_sr_x4.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ParameterError
from ..torch_runtime import DEVICES

if TYPE_CHECKING:  # numpy is imported when training runs, not when the asirp parser is built
    import numpy as np


def register_train(subcommands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``sr`` to the ``asirp train`` group."""
    sub = subcommands.add_parser(
        "sr",
        parents=[common],
        help="pretrain or fine-tune the FCA-SR super-resolution network",
        description="Train FCA-SR. With image files: fine-tune the shipped weights on them, self-supervised by "
        "re-degrading them. Without: pretrain on the synthetic X-ray-like corpus.",
    )
    sub.add_argument("images", nargs="*", help="sharpest images you have (any format asirp reads); none: synthetic corpus")
    sub.add_argument("--out", required=True, type=Path, help="weights file to write (.pt); use with fca_sr -p weights=...")
    sub.add_argument("--scale", type=int, choices=(2, 4), default=2)
    sub.add_argument("--init", default=None, help="weights to start from: 'shipped' (default with images), 'none' "
                     "(default without) or a .pt file")
    sub.add_argument("--steps", type=int, help="optimisation steps (default 4784 pretraining, 300 fine-tuning)")
    sub.add_argument("--batch", type=int, default=8, help="crops per step")
    sub.add_argument("--patch", type=int, help="input crop side in pixels (default 48 for x2, 32 for x4)")
    sub.add_argument("--lr", type=float, help="initial learning rate (default 2e-3 pretraining, 5e-4 fine-tuning)")
    sub.add_argument("--psf-sigma", type=float, help="your beam's PSF std in pixels of your images (fixes the blur)")
    sub.add_argument("--sigma-range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=(0.0, 1.2),
                     help="range of beam std drawn per crop, pixels (default 0 1.2)")
    sub.add_argument("--counts-range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=(5.0, 5000.0),
                     help="range of Poisson counts at the bright end drawn per crop (default 5 5000)")
    sub.add_argument("--channels", type=int, default=32, help="network width (pretraining only)")
    sub.add_argument("--groups", type=int, default=2, help="residual groups (pretraining only)")
    sub.add_argument("--blocks", type=int, default=2, help="Fourier attention blocks per group (pretraining only)")
    sub.add_argument("--checkpoint", type=Path, help="checkpoint file (default OUT.ckpt)")
    sub.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    sub.add_argument("--time-limit", type=float, help="stop after this many minutes (checkpoint written; --resume later)")
    sub.add_argument("--threads", type=int, help="CPU threads for torch")
    sub.add_argument("--device", choices=DEVICES, default="auto",
                     help="where to train: auto (a CUDA GPU when present, else the CPU), cpu or cuda")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--force", action="store_true", help="replace an existing --out file")
    sub.set_defaults(handler=_cmd_train_sr)


def _user_images(paths: list[str]) -> list[np.ndarray]:
    """Every 2-D image of the given files, gaps filled, scaled so 1 is the bright end."""
    from ..filters import fill_masked
    from ..io import open as open_frame
    from ..methods.sr.corpus import _unit

    images = []
    for path in paths:
        frame = open_frame(path)
        for image in frame.images():
            images.append(_unit(fill_masked(image.data, image.valid)))
    return images


def _cmd_train_sr(args: argparse.Namespace) -> int:
    import torch

    from ..methods.sr.training import TrainConfig, train, write_weights
    from ..methods.sr.weights import shipped_path
    from ..torch_runtime import device
    from .common import check_outputs

    check_outputs([args.out], force=args.force, inputs=args.images)
    if args.threads:
        torch.set_num_threads(args.threads)
    on = device(args.device)
    fine_tune = bool(args.images)
    init = args.init or ("shipped" if fine_tune else "none")
    init_path = None if init == "none" else str(shipped_path(args.scale) if init == "shipped" else Path(init))
    sigma_range = (args.psf_sigma, args.psf_sigma) if args.psf_sigma is not None else tuple(args.sigma_range)
    arch = {"channels": args.channels, "groups": args.groups, "blocks": args.blocks}
    if init_path is not None:
        from ..methods.sr.weights import read_checkpoint

        arch = {key: int(read_checkpoint(init_path)["arch"][key]) for key in arch}
    try:
        config = TrainConfig(
            scale=args.scale,
            steps=args.steps or (300 if fine_tune else 4784),
            batch=args.batch,
            patch=args.patch or (48 if args.scale == 2 else 32),
            learning_rate=args.lr or (5e-4 if fine_tune else 2e-3),
            sigma_min=sigma_range[0],
            sigma_max=sigma_range[1],
            counts_min=args.counts_range[0],
            counts_max=args.counts_range[1],
            seed=args.seed,
            init=init_path,
            **arch,
        )
    except ValueError as exc:
        raise ParameterError(f"train sr: {exc}") from None
    if fine_tune:
        images, corpus = _user_images(args.images), f"{len(args.images)} user file(s)"
    else:
        from ..methods.sr.corpus import pretraining_corpus

        images, corpus = pretraining_corpus(), "the asirp synthetic X-ray-like corpus"
    # Every 10th image is held out to report the gain over bicubic (when there are enough).
    validation = images[::10] if len(images) >= 10 else None
    training = [image for i, image in enumerate(images) if i % 10] if validation else images
    checkpoint = args.checkpoint or args.out.with_name(args.out.name + ".ckpt")
    result = train(
        config,
        training,
        checkpoint=checkpoint,
        validation=validation,
        resume=args.resume,
        time_limit_s=None if args.time_limit is None else 60.0 * args.time_limit,
        corpus=corpus,
        device=on,
    )
    if result.steps < config.steps:
        print(f"stopped at step {result.steps} of {config.steps} after {result.seconds:.0f} s; checkpoint {checkpoint} "
              "(continue with --resume)")
    path = write_weights(result, args.out)
    gain = result.record.get("validation_gain_over_bicubic_db")
    print(f"wrote {path}: {result.steps} steps in {result.seconds:.0f} s on {on}"
          + (f", held-out gain over bicubic {gain:+.2f} dB" if gain is not None else ""))
    return 0
