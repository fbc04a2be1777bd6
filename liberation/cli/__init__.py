"""The ``liberation`` command line.

Subcommands live in ``liberation/cli/<module>.py`` and are imported only when
invoked, so ``liberation --help`` and ``liberation report`` stay light (no torch).
Every error is printed as one line (``error: ...``) and the command exits with status 2,
without a traceback (see :func:`main` and ``docs/reliability.md``).
"""

from __future__ import annotations

import logging
import pickle
import sys

import click

from liberation import __version__
from liberation._progress import set_progress
from liberation.cli._errors import known_error, one_line
from liberation.cli._lazy import LazyGroup
from liberation.errors import LiberationError

__all__ = ["COMMANDS", "LazyGroup", "cli", "main"]

# name -> (module under liberation.cli, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "info": ("store_cmds", "info", "Show what a sample store holds."),
    "convert": ("store_cmds", "convert", "Convert a TIFF stack into a sample store."),
    "set-fraction": ("store_cmds", "set_fraction", "Record the sieve fraction of a sample store (e.g. 63-100 µm)."),
    "data": ("store_cmds", "data", "Datasets the library knows (data_manifest.yaml)."),
    "demo": ("demo", "demo", "Make the synthetic demo sample and run the report on it."),
    "report": ("report", "report", "Liberation report: 3D and 2D statistics, plots, tables."),
    "correct-2d": ("correct", "correct_2d", "Apply a stereological kernel to the 2D sections of a sister sample."),
    "labels": ("labels", "labels", "Mineral labels from micro-XRF maps (K-means) or SEM/MLA maps."),
    "register": ("register", "register", "Register a 2D map into the CT volume (mutual information)."),
    "train": ("segment", "train", "Train a 3D U-Net on sparse labels (extra 'ml')."),
    "segment": ("segment", "segment", "Segment phases or particles with a trained model (extra 'ml')."),
    "evaluate": ("segment", "evaluate", "Evaluate a trained model on held-out labelled planes."),
    "pipeline": ("pipeline", "pipeline", "Run the whole correlative chain on a sample."),
    "deploy": ("deploy", "deploy", "Belt XRT sorting: segmenter, dual-energy, fragments (extra 'deploy')."),
    "view": ("view", "view", "Open a sample store in napari: CT, phases, particles (extra 'viewer')."),
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="liberation")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars, only errors.")
def cli(verbose: int, quiet: bool) -> None:
    """liberation: correlative 3D mineral liberation analysis.

    Micro-CT volumes, micro-XRF / SEM maps registered into them, 3D U-Net
    segmentation, and particle-wise 3D liberation next to 2D sections.
    """
    level = logging.WARNING - 10 * verbose
    if quiet:
        level = logging.ERROR
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    set_progress(not quiet)


def _usage_line(exc: click.ClickException) -> str:
    """A click usage error (bad option value, unknown option or command) as one ``error:`` line."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f"error: {ctx.command_path}: {message} (see '{ctx.command_path} --help')"
    return f"error: {message}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and return the exit status.

    0 on success; 2 on every error, printed as one ``error: ...`` line without a traceback:
    a :class:`~liberation.errors.LiberationError`, a click usage error (bad option value,
    unknown option), a command that ends with a non-zero :class:`click.exceptions.Exit`, and
    the known failure classes of other libraries that :func:`liberation.cli._errors.known_error`
    maps (a corrupt zarr chunk, a full disk or read-only file system, an unreadable weights
    file); 130 when interrupted. Any other exception is a bug and shows its traceback.
    """
    try:
        rc = cli.main(args=argv, prog_name="liberation", standalone_mode=False)
    except LiberationError as exc:
        click.echo(f"error: {one_line(exc)}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(_usage_line(exc), err=True)
        return 2
    except click.exceptions.Exit as exc:
        return 0 if exc.exit_code == 0 else 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except (OSError, RuntimeError, ValueError, TypeError, pickle.UnpicklingError) as exc:
        mapped = known_error(exc)
        if mapped is None:
            raise
        click.echo(f"error: {one_line(mapped)}", err=True)
        return 2
    # standalone_mode=False returns the exit code of a click Exit raised by a command
    if isinstance(rc, int) and not isinstance(rc, bool) and rc != 0:
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
