"""A busy machine on demand: CPU-bound competitor processes beside the timed systems.

Users train on machines that run other work: Keras's input pipeline, data loaders,
other jobs. ``qml-bench --load N`` runs N processes that each keep one processor busy
for the whole measurement, so that every system is timed on the same busy machine.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Iterator

# A pure-Python busy loop: no threads, no memory traffic, one processor's worth of work.
_SPIN = "while True:\n    pass\n"


@contextlib.contextmanager
def competing_load(processes: int) -> Iterator[list[subprocess.Popen]]:
    """Runs ``processes`` busy competitors while the block runs, then stops them.

    Example:
        >>> with competing_load(1) as competitors:
        ...     [c.poll() for c in competitors]  # running
        [None]
    """
    if processes < 0:
        raise ValueError(f"--load must be 0 or more processes, got {processes}")
    competitors = [subprocess.Popen([sys.executable, "-c", _SPIN],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                   for _ in range(processes)]
    try:
        yield competitors
    finally:
        for competitor in competitors:
            competitor.kill()
        for competitor in competitors:
            competitor.wait()
