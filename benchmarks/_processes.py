"""What the benchmarks that measure each side in its own process share.

    peak_rss_mb()                                   # this process's peak resident memory
    figures = run_json_worker([sys.executable, __file__, "--worker", "peer"], "nmt_vs_eager: the peer run")

A worker prints its figures as one JSON object on its last stdout line; a
failed worker ends the benchmark with one line: what failed and its last
stderr line.
"""

from __future__ import annotations

import json
import resource
import subprocess


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_json_worker(command: list[str], what: str) -> dict:
    """Runs `command`; returns the JSON object on its last stdout line.

    Raises:
      SystemExit: the command exited non-zero ("<what> failed: <its last stderr line>").
    """
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"{what} failed: {tail[0]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])
