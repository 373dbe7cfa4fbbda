"""``python -m textrnn`` (and ``torchrun -m textrnn``) runs the CLI."""

from .cli import main

main()
