"""The install cannot drift: everything is pinned and hashed, the virtualenv is exactly the lock,
and nothing the project declares is missing from it. (`tests/fresh_clone.sh`, run by `.ci/run`,
proves the same on a new clone with no cache.)"""

from __future__ import annotations

import re
import tomllib

from tests.installed import LOCK, ROOT, canonical, differences, locked

INSTALLER_LOCK = ROOT / "installer.lock"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirements(lock_text: str) -> list[str]:
    """The lock's requirements, each with its continuation lines joined."""
    joined = lock_text.replace("\\\n", " ")
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_virtualenv_is_exactly_the_lock() -> None:
    assert differences() == []


def test_every_requirement_is_pinned_exactly_and_hashed() -> None:
    for lock in (LOCK, INSTALLER_LOCK):
        entries = requirements(lock.read_text())
        assert entries, f"{lock.name} lists nothing"
        for entry in entries:
            assert re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+ ", entry), (lock.name, entry)
            assert "--hash=sha256:" in entry, (lock.name, entry)


def test_the_installer_is_the_pinned_uv_the_makefile_names() -> None:
    [entry] = requirements(INSTALLER_LOCK.read_text())
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.M)
    assert version and entry.startswith(f"uv=={version.group(1)} ")


def test_everything_the_project_declares_is_locked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = [
        *project["project"]["dependencies"],
        *(dep for deps in project["project"]["optional-dependencies"].values() for dep in deps),
        # The editable install builds with the venv's setuptools, without build isolation.
        *project["build-system"]["requires"],
    ]
    names = {canonical(_NAME.match(dep).group(1)) for dep in declared}
    assert names - set(locked()) == set()
