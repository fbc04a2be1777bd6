"""The ``liberation`` command line.

Subcommands live in ``liberation/cli/<module>.py`` and are imported only when
invoked, so ``liberation --help`` and ``liberation report`` stay light (no torch).
Any :class:`~liberation.errors.LiberationError` is printed as one line
(``error: ...``) and the command exits with status 2, without a traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from liberation import __version__
from liberation._progress import set_progress
from liberation.cli._lazy import LazyGroup
from liberation.errors import LiberationError

__all__ = ["COMMANDS", "LazyGroup", "cli", "main"]

# name -> (module under liberation.cli, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "info": ("store_cmds", "info", "Show what a sample store holds."),
    "convert": ("store_cmds", "convert", "Convert a TIFF stack into a sample store."),
    "data": ("store_cmds", "data", "Datasets the library knows (data_manifest.yaml)."),
    "demo": ("demo", "demo", "Make the synthetic demo sample and run the report on it."),
    "report": ("report", "report", "Liberation report: 3D and 2D statistics, plots, tables."),
    "labels": ("labels", "labels", "Mineral labels from micro-XRF maps (K-means) or SEM/MLA maps."),
    "register": ("register", "register", "Register a 2D map into the CT volume (mutual information)."),
    "train": ("segment", "train", "Train a 3D U-Net on sparse labels (extra 'ml')."),
    "segment": ("segment", "segment", "Segment phases or particles with a trained model (extra 'ml')."),
    "evaluate": ("segment", "evaluate", "Evaluate a trained model on held-out labelled planes."),
    "pipeline": ("pipeline", "pipeline", "Run the whole correlative chain on a sample."),
    "deploy": ("deploy", "deploy", "Belt XRT sorting: segmenter, dual-energy, fragments (extra 'deploy')."),
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


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, print library errors as one line, return the exit status."""
    try:
        cli.main(args=argv, prog_name="liberation", standalone_mode=False)
    except LiberationError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
