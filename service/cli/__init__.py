"""`authz`: the command line (main.py), one module per group of commands.

main.py holds the `authz` group and its store, check and serve commands; keys.py, workflows.py,
rules.py, policy.py and audit.py add theirs to it; errors.py is how every command fails; clock.py
when the command started.
"""
from . import clock  # noqa: F401  (first: the command's time counts its imports)
from .main import main

__all__ = ["main"]
