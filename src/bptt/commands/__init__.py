"""Subcommands of the ``bptt`` command line, one module per job, each with ``add_parsers``."""
