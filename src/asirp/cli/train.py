"""The ``asirp train`` command group: one sub-command per trainable network.

This module only makes the group; each training module adds its own sub-command
(``asirp train sr``, ...) with a function ``register_train(subcommands, common)`` that
calls ``subcommands.add_parser(NAME, parents=[common], help=...)``, adds its
arguments and sets ``handler``. Add such a module by adding its name to
:data:`TRAIN_MODULES` (one line).
"""

from __future__ import annotations

import argparse
import importlib

#: Modules defining ``register_train(subcommands, common)``.
TRAIN_MODULES: tuple[str, ...] = ("asirp.cli.train_sr", "asirp.cli.train_symmetry")


def register_cli(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``asirp train`` and every sub-command of :data:`TRAIN_MODULES` to the CLI."""
    train = commands.add_parser("train", parents=[common], help="train or fine-tune the networks of the repertoire")
    subcommands = train.add_subparsers(dest="train_command", required=True, metavar="NETWORK")
    for module in TRAIN_MODULES:
        importlib.import_module(module).register_train(subcommands, common)
