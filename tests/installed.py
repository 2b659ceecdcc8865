"""Whether a virtualenv holds exactly what requirements.lock pins.

`python tests/installed.py` exits 1 naming every package that is missing, at another version or
not in the lock; `--newer` says which packages the index has newer releases of. Run by
`tests/fresh_clone.sh` on a new clone, and by the suite on its own virtualenv
(tests/test_install.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
# Besides the lock: the installer (installer.lock), the venv's own pip, and this project.
OUTSIDE_THE_LOCK = {"pip", "uv", "techmarket"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock: Path = LOCK) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def differences(lock: Path = LOCK) -> list[str]:
    want, have = locked(lock), installed()
    problems = [
        f"{name}: locked {version}, installed {have.get(name, 'nothing')}"
        for name, version in sorted(want.items())
        if have.get(name) != version
    ]
    problems += [
        f"{name} {version}: installed but not in the lock"
        for name, version in sorted(have.items())
        if name not in want and name not in OUTSIDE_THE_LOCK
    ]
    return problems


def newer_on_the_index() -> str:
    """Which installed packages the index has newer releases of (it asks the index)."""
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("uv")), "pip", "list", "--outdated"]
        + ["--python", sys.executable, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if listed.returncode != 0:
        return f"not known ({listed.stderr.strip()})"
    newer = [
        f"{p['name']} {p['version']} (index: {p['latest_version']})"
        for p in json.loads(listed.stdout)
    ]
    return ", ".join(newer) or "none"


if __name__ == "__main__":
    if sys.argv[1:] == ["--newer"]:
        print(f"newer releases on the index than installed: {newer_on_the_index()}")
        sys.exit(0)
    found = differences()
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"the virtualenv is exactly {LOCK.name}: {len(locked())} packages at their pins")
