"""Subcommands of ``cnetwin``, one module per feature, each with ``add_commands(commands)``."""
