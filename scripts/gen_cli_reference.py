"""Write docs/cli.md from the ``--help`` of every ``liberation`` command.

Run: ``.venv/bin/python scripts/gen_cli_reference.py`` (tests check that the file is current).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from liberation.cli import cli

HEADER = """# Command-line reference

Generated from `--help` by `scripts/gen_cli_reference.py`; do not edit by hand.
Every command prints errors as one line (`error: ...`) and exits with status 2; nothing is
overwritten without `--overwrite`.
"""


def _walk(command: click.Command, ctx: click.Context, path: list[str], out: list[str]) -> None:
    help_text = command.get_help(ctx).replace("Usage: liberation", "Usage: liberation")
    heading = "#" * min(2 + len(path) - 1, 4)
    out.append(f"\n{heading} `{' '.join(path)}`\n\n```text\n{help_text}\n```\n")
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            sub_ctx = click.Context(sub, info_name=name, parent=ctx)
            _walk(sub, sub_ctx, [*path, name], out)


def render() -> str:
    """The whole reference as Markdown."""
    ctx = click.Context(cli, info_name="liberation", terminal_width=100, max_content_width=100)
    out = [HEADER]
    _walk(cli, ctx, ["liberation"], out)
    return "".join(out)


def main() -> int:
    target = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
    text = render()
    if "--check" in sys.argv:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is out of date; run scripts/gen_cli_reference.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
