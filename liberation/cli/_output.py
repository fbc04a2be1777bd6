"""Printing for the commands: results to stdout, notes to stderr."""

from __future__ import annotations

from collections.abc import Iterable

import click


def note(text: str) -> None:
    """Print a note that matters for the results to stderr (also with ``-q``)."""
    click.echo(f"note: {text}", err=True)


def echo_notes(notes: Iterable[str]) -> None:
    """Print each note with :func:`note`."""
    for text in notes:
        note(text)


def echo_lines(lines: Iterable[str], *, err: bool = False) -> None:
    """Print each line (to stderr with ``err``)."""
    for line in lines:
        click.echo(line, err=err)
