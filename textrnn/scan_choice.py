"""The ``scan`` model option of the scan-trained families, without importing torch.

Plugins read it when they register their options, which must stay cheap (``textrnn
--help`` imports no torch); :mod:`textrnn.scan` holds the loop itself.
"""

from __future__ import annotations


#: the ``scan`` model option of the first-party scan families
SCAN_CHOICES = ("auto", "parallel", "sequential")
SCAN_HELP = ("how a training window runs the recurrence: parallel (the paper's scan), sequential "
             "(one loop over time), or auto: sequential on the CPU, where it is faster "
             "(benchmarks/family_speed.py), parallel elsewhere")


def check_scan_choice(value: object) -> None:
    """Raise ValueError (one ``Error:`` line in the CLI) for a ``scan`` option outside SCAN_CHOICES."""
    if value not in SCAN_CHOICES:
        raise ValueError(f"scan must be one of {', '.join(SCAN_CHOICES)}, got {value!r}")


def runs_sequential(choice: str, x) -> bool:
    """Whether a ``scan`` choice means the sequential loop for a window on ``x``'s device (a tensor)."""
    return choice == "sequential" or (choice == "auto" and x.device.type == "cpu")
