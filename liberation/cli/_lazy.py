"""A click group whose subcommands are imported on first use (``liberation --help`` stays light)."""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use.

    Parameters
    ----------
    lazy_commands : dict
        ``name -> (module, attribute, short help)``; the module is resolved under
        ``package``.
    package : str
        Package holding the command modules.
    """

    def __init__(self, *args, lazy_commands: dict | None = None, package: str = "liberation.cli", **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})
        self.package = package

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx, cmd_name):
        if cmd_name in self.lazy_commands:
            module_name, attribute, _ = self.lazy_commands[cmd_name]
            try:
                module = importlib.import_module(f"{self.package}.{module_name}")
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith(f"{self.package}.{module_name}"):
                    return None
                raise
            return getattr(module, attribute, None)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, _, help_) in sorted(self.lazy_commands.items())]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in sorted(self.commands.items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
