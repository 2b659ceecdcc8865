"""The IPC scheme shipped in listings/data: validate codes and give them titles."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"
# "H01M 10/052", "H01M10/052", "B01D" (a subclass alone); CPC's longer groups are accepted.
_CODE = re.compile(r"^([A-HY]\d{2}[A-Z])\s*(?:(\d{1,4})\s*/\s*(\d{2,6}))?$")


@dataclass(frozen=True)
class IpcCode:
    code: str
    subclass: str
    subclass_title: str
    group_title: str

    @property
    def title(self) -> str:
        return self.group_title or self.subclass_title


@cache
def subclasses() -> dict[str, str]:
    with (DATA / "ipc_titles.csv").open(encoding="utf-8") as handle:
        return {
            row["code"]: row["title"]
            for row in csv.DictReader(handle)
            if row["level"] == "subclass"
        }


@cache
def main_groups() -> dict[str, str]:
    with (DATA / "ipc_main_groups.csv").open(encoding="utf-8") as handle:
        return {row["code"]: row["title"] for row in csv.DictReader(handle)}


class IpcError(ValueError):
    pass


def parse(raw: str) -> IpcCode:
    """Normalise one code to `H01M 10/052` form, or raise IpcError saying what is wrong."""
    text = raw.strip().upper()
    match = _CODE.match(text)
    if not match:
        raise IpcError(f"{raw!r} is not an IPC code (like H01M 10/052 or H01M).")
    subclass, group, subgroup = match.groups()
    if subclass not in subclasses():
        raise IpcError(f"{subclass} is not an IPC subclass.")
    if group is None:
        return IpcCode(subclass, subclass, subclasses()[subclass], "")
    code = f"{subclass} {int(group)}/{subgroup}"
    group_title = main_groups().get(f"{subclass} {int(group)}/00", "")
    return IpcCode(code, subclass, subclasses()[subclass], group_title)


def title(code: str) -> str:
    try:
        return parse(code).title
    except IpcError:
        return ""
