"""``asirp train symmetry``: fine-tune the symmetry network on your frames, or train from scratch.

Examples::

    asirp train symmetry run_*.cbf --poni det.poni -o mymodel.pt          # fine-tune the shipped weights
    asirp restore frame.cbf -m symmetry -p weights=mymodel.pt             # use them
    asirp train symmetry --procedural --device cuda --minutes 4 -o symmetry_unet.pt  # how the shipped weights were made

Training is resumable: the state is checkpointed to ``OUTPUT.ckpt`` and an
interrupted run continues where it stopped when the same command is given again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ParameterError
from ..torch_runtime import DEVICES


def _handler(args: argparse.Namespace) -> int:
    from ..io import open as open_frame
    from ..methods.symmetry import training
    from ..methods.symmetry.weights import shipped_path
    from ..torch_runtime import device

    recipe = args.recipe
    output = Path(args.output)
    if output.exists() and not args.force:
        raise ParameterError(f"{output} exists; use --force to replace it")
    if args.procedural:
        if args.frames or args.synthetic:
            raise ParameterError("give FRAMES, --synthetic N or --procedural, one of them")
        on = str(device(args.device))
        result = training.pretrain(recipe, output, minutes=args.minutes or 5.0, device=on, seed=args.seed,
                                   batch_size=args.batch, patch=args.patch, lr=args.lr or 1e-3, force=True)
        print(f"wrote {output} ({result.steps} steps, {result.seconds:.0f} s on {on}; held-out loss "
              f"{result.heldout_loss[0][1]:.4f} -> {result.heldout_loss[-1][1]:.4f})")
        return 0
    source: training.SyntheticCorpus | training.FrameSource
    if args.synthetic:
        if args.frames:
            raise ParameterError("give FRAMES or --synthetic N, not both")
        source = training.SyntheticCorpus(args.synthetic, recipe=recipe, seed=args.seed + training.TRAIN_SEED)
        heldout = training.heldout_samples(recipe)
        corpus = {"corpus": "synthetic", "frames": args.synthetic, "patterns": list(training.PATTERNS),
                  "dose_range": list(training.DOSE_RANGE), "first_seed": args.seed + training.TRAIN_SEED}
    else:
        if not args.frames:
            raise ParameterError("give the frames to fine-tune on (FRAMES...) or --synthetic N")
        frames = [open_frame(path, kind=args.kind, poni=args.poni) for path in args.frames]
        source = training.FrameSource(frames, recipe=recipe)
        # Hold out a few fixed samples of the user's own frames for the validation loss.
        import numpy as np

        rng = np.random.default_rng(12345)
        heldout = [source.sample(rng, min(args.patch, *source.items[0].valid.shape)) for _ in range(4)]
        corpus = {"corpus": "user frames", "frames": [str(p) for p in args.frames]}
    init = None if args.scratch else (args.init or (shipped_path(recipe) if not args.synthetic else None))
    checkpoint = Path(args.checkpoint) if args.checkpoint else output.with_name(output.name + ".ckpt")
    result = training.train(
        source, recipe=recipe, steps=args.steps, minutes=args.minutes, batch_size=args.batch, patch=args.patch,
        lr=args.lr if args.lr else (1e-3 if init is None else 2e-4), init=init, checkpoint=checkpoint,
        heldout=heldout, eval_every=args.eval_every, seed=args.seed, threads=args.threads, device=str(device(args.device)))
    meta = {**corpus, "init": None if init is None else str(init), "recipe": recipe}
    training.save_weights(result, output, recipe, meta, force=True)
    from ..history import sha256_of_file

    for step, loss in result.heldout_loss:
        print(f"step {step:6d}  held-out loss {loss:.5f}")
    print(f"wrote {output} (sha256 {sha256_of_file(output)}, {result.steps} steps, {result.seconds:.0f} s)")
    checkpoint.unlink(missing_ok=True)
    return 0


def register_train(subcommands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``asirp train symmetry`` to the ``train`` group."""
    sub = subcommands.add_parser("symmetry", parents=[common], help="fine-tune (or train) the symmetry denoising network",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("frames", nargs="*", help="measured frames (any format asirp.open reads)")
    sub.add_argument("-o", "--output", required=True, help="weights file to write (.pt)")
    sub.add_argument("--force", action="store_true", help="replace an existing output")
    sub.add_argument("--poni", help="pyFAI geometry of the frames")
    sub.add_argument("--kind", default="diffraction", help="kind of the frames (default diffraction)")
    sub.add_argument("--synthetic", type=int, default=0, metavar="N", help="train on N synthetic frames instead")
    sub.add_argument("--procedural", action="store_true",
                     help="pre-train from scratch on the procedural corpus (symmetry or supervised recipe)")
    sub.add_argument("--device", choices=DEVICES, default="auto",
                     help="where to train: auto (a CUDA GPU when present, else the CPU), cpu or cuda")
    sub.add_argument("--recipe", default="symmetry", choices=("symmetry", "supervised", "smae"), help="what to train")
    sub.add_argument("--init", help="weights to start from (default: the shipped ones when fine-tuning)")
    sub.add_argument("--scratch", action="store_true", help="start from random weights")
    sub.add_argument("--steps", type=int, default=400, help="optimiser steps (default 400)")
    sub.add_argument("--minutes", type=float, help="wall-clock budget in minutes")
    sub.add_argument("--batch", type=int, default=8, help="patches per step")
    sub.add_argument("--patch", type=int, default=128, help="patch side in pixels (multiple of 8)")
    sub.add_argument("--lr", type=float, help="learning rate (default 1e-3 from scratch, 2e-4 fine-tuning)")
    sub.add_argument("--checkpoint", help="checkpoint file (default OUTPUT.ckpt); resumed when present")
    sub.add_argument("--eval-every", type=int, default=50, help="held-out loss every N steps")
    sub.add_argument("--seed", type=int, default=0, help="random seed")
    sub.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    sub.set_defaults(handler=_handler)
