"""Click options shared by several ``liberation`` commands, as reusable decorators.

Each factory returns a decorator; the help text is a parameter where the commands word it
for their own output, so ``--help`` stays as it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

PRESETS = ("cpu", "gpu", "deep-xfct", "tiny")
DEVICES = ("auto", "cpu", "cuda")
CONTEXTS = ("volume", "face-matched")
TASKS = ("phases", "particles")

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class FiniteFloatRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses NaN and infinity (which pass the range tests)."""

    name = "float range"

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if value is not None and not math.isfinite(value):
            self.fail(f"{value} is not a finite number.", param, ctx)
        return value


POSITIVE_INT = click.IntRange(min=1)
"""A whole number >= 1 (counts, sizes, threads, workers)."""
NON_NEGATIVE_INT = click.IntRange(min=0)
"""A whole number >= 0."""
POSITIVE_FLOAT = FiniteFloatRange(min=0.0, min_open=True)
"""A finite number > 0 (sizes in µm, times in s, learning rates)."""
NON_NEGATIVE_FLOAT = FiniteFloatRange(min=0.0)
"""A finite number >= 0."""
UNIT_FRACTION = FiniteFloatRange(min=0.0, max=1.0, max_open=True)
"""A fraction in [0, 1) (window overlap)."""
OPEN_FRACTION = FiniteFloatRange(min=0.0, max=1.0, min_open=True, max_open=True)
"""A fraction in (0, 1) (held-out share)."""
CLOSED_FRACTION = FiniteFloatRange(min=0.0, max=1.0)
"""A fraction in [0, 1] (thresholds, mIoU)."""


def stack_options(options) -> Decorator:
    """Apply a list of click option decorators in order (the first is the first in ``--help``)."""

    def apply(command):
        for option in reversed(list(options)):
            command = option(command)
        return command

    return apply


def overwrite_option(help: str | None = "Replace an existing output folder.") -> Decorator:
    """``--overwrite``: replace an existing output (a flag)."""
    return click.option("--overwrite", is_flag=True, help=help)


def out_option(dest: str = "out", *, help: str | None = "Output folder.", required: bool = False,
               default: str | None = None, metavar: str | None = None, show_default: bool = False,
               path_type: type | None = None) -> Decorator:
    """``--out``: the output folder or file of a command (a path, not checked here)."""
    return click.option("--out", dest, type=click.Path(path_type=path_type), required=required,
                        default=default, metavar=metavar, show_default=show_default, help=help)


def seed_option(help: str | None = None, *, metavar: str | None = None) -> Decorator:
    """``--seed``: an integer seed, default 0."""
    return click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True, metavar=metavar, help=help)


def device_option() -> Decorator:
    """``--device``: auto, cpu or cuda (torch)."""
    return click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)


def threads_option(help: str | None = None) -> Decorator:
    """``--threads``: CPU threads for torch (default torch's)."""
    return click.option("--threads", type=POSITIVE_INT, default=None, help=help)


def preset_option() -> Decorator:
    """``--preset``: the training preset."""
    return click.option("--preset", type=click.Choice(PRESETS), default="cpu", show_default=True)


def max_time_option(help: str) -> Decorator:
    """``--max-time``: training budget in seconds."""
    return click.option("--max-time", type=POSITIVE_FLOAT, default=None, help=help)


def context_option(help: str) -> Decorator:
    """``--context``: phase inference by sliding windows (volume) or face-matched."""
    return click.option("--context", type=click.Choice(CONTEXTS), default="volume", show_default=True, help=help)


def task_option(*, default: str | None, help: str | None = None) -> Decorator:
    """``--task``: phases or particles."""
    return click.option("--task", type=click.Choice(TASKS), default=default, show_default=default is not None,
                        help=help)


def model_option(*, required: bool = True, help: str | None = None) -> Decorator:
    """``--model``: an existing model folder."""
    return click.option("--model", "model", required=required, type=click.Path(exists=True, file_okay=False),
                        help=help)


def pixel_size_option(help: str, *, required: bool = False) -> Decorator:
    """``--pixel-size``: the pixel size of a 2D map in µm."""
    return click.option("--pixel-size", "pixel_size", type=POSITIVE_FLOAT, default=None, required=required, help=help)


def minerals_option(help: str, *, required: bool = False) -> Decorator:
    """``--minerals``: a mineral list file (CSV or YAML)."""
    return click.option("--minerals", "minerals_path", type=click.Path(path_type=Path), default=None,
                        required=required, help=help)


def size_option(*, default: int | None, help: str, metavar: str | None = None) -> Decorator:
    """``--size``: edge length of a cubic synthetic sample in voxels."""
    return click.option("--size", type=POSITIVE_INT, default=default, show_default=default is not None, metavar=metavar,
                        help=help)


def cluster_options(what: str) -> Decorator:
    """``--workers N`` / ``--scheduler ADDRESS``: run ``what`` on Dask distributed (extra ``distributed``).

    The command passes both values to :func:`liberation.workflows.cluster.dask_client`, which
    refuses both at once and an unreachable scheduler (docs/distributed.md).
    """
    return stack_options([
        click.option("--workers", type=POSITIVE_INT, default=None, metavar="N",
                     help=f"Run {what} on a local Dask cluster of N worker processes, one thread each "
                          "(extra 'distributed'; the results are the same as without)."),
        click.option("--scheduler", default=None, metavar="ADDRESS",
                     help=f"Run {what} on the running Dask cluster whose scheduler is at ADDRESS "
                          "(e.g. tcp://10.0.0.5:8786; its workers must see the store's path; docs/distributed.md)."),
    ])
