"""Run every benchmark script in turn; exit non-zero if any of them failed.

.venv/bin/python bench/run_all.py        (what `make bench` runs)
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Listed rather than discovered, so a helper module in bench/ (bare_app.py, support.py) is
# never run.
BENCHMARKS = [
    "http_pages.py",
    "pages.py",
    "import_all.py",
    "search.py",
    "index_burst.py",
    "relevance.py",
    "matching.py",
    "webhooks.py",
]
INTERRUPTED = 130
# How long a benchmark may take to stop its servers after Ctrl-C before it is killed.
STOP_GRACE = 30.0


def run(script: str) -> int:
    """Run one benchmark script with this interpreter; its exit code, 130 if interrupted."""
    process = subprocess.Popen([sys.executable, str(HERE / script)])
    # A Ctrl-C reaches the child directly (same process group), a SIGTERM sent to us does not.
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: process.terminate())
    try:
        return process.wait()
    except KeyboardInterrupt:
        # Not subprocess.run(): it would SIGKILL the child 0.25 s after a Ctrl-C, before the
        # child has stopped its servers, and leave them running.
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    failed = []
    for script in BENCHMARKS:
        print(f"== {script}", flush=True)
        code = run(script)
        if code == INTERRUPTED:
            print("run_all: interrupted", file=sys.stderr)
            return INTERRUPTED
        if code != 0:
            failed.append(f"{script} (exit {code})")
    if failed:
        print(f"run_all: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
