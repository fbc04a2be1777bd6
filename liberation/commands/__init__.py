"""CLI subcommands, one module per command family, imported lazily by :mod:`liberation.cli`."""
