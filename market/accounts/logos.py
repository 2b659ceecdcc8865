"""An organisation's logo: its owners and admins upload a small PNG or JPEG, shown on its
public profile and beside its listings, to whoever may see the profile.

The file is kept as every upload is (market/files.py), under var/media/logos; the row names it
(`Organization.logo_name`, `logo_type`). Each upload has a new name, and the logo's address
carries the start of it (`Organization.logo_url`), so a browser may keep an address's answer
for good: a new logo is a new address.
"""

from __future__ import annotations

from pathlib import Path

from market import audit, files
from market.accounts.models import Organization
from market.accounts.service import public_organization, require_editor
from market.actor import Actor
from market.db import unit_of_work
from market.errors import NotFound
from market.locks import lock_existing

MAX_LOGO_BYTES = 512 * 1024
ACCEPTS = (files.PNG, files.JPEG)
ACCEPTS_TEXT = "PNG or JPEG images"
FIELD = "logo"
# How long a browser or proxy keeps the logo at its versioned address, and at any other.
FOR_GOOD = "public, max-age=31536000, immutable"
FOR_A_WHILE = "public, max-age=300"


def logos_dir() -> Path:
    return files.media_dir("logos")


def authorize_upload(actor: Actor) -> Organization:
    """Check before reading a body."""
    return require_editor(actor, "change the logo")


async def set_logo(actor: Actor, data: bytes) -> Organization:
    org = authorize_upload(actor)
    content_type = files.accepted(
        data, accepts=ACCEPTS, limit=MAX_LOGO_BYTES, accepts_text=ACCEPTS_TEXT, field=FIELD
    )
    stored_name, path = await files.store(logos_dir(), data)
    try:
        async with unit_of_work():
            current = await lock_existing(Organization, org.id)
            await _replace(actor, current, stored_name, content_type)
    except BaseException:
        files.unlink(path)
        raise
    return await Organization.get(id=org.id)


async def remove_logo(actor: Actor) -> Organization:
    org = authorize_upload(actor)
    async with unit_of_work():
        current = await lock_existing(Organization, org.id)
        if not current.logo_name:
            raise NotFound("The organisation has no logo.")
        await _replace(actor, current, "", "")
    return await Organization.get(id=org.id)


async def _replace(
    actor: Actor, current: Organization, stored_name: str, content_type: str
) -> None:
    """Inside the caller's unit of work, the organisation's row locked: the row names the new
    file (or none); the old file goes once that commits."""
    await Organization.filter(id=current.id).update(logo_name=stored_name, logo_type=content_type)
    await audit.record(
        actor,
        "organization.logo_changed",
        "organization",
        current.id,
        before={"logo": current.logo_name},
        after={"logo": stored_name, "content_type": content_type},
    )
    if current.logo_name:
        files.unlink_after_commit(files.path_of(logos_dir(), current.logo_name))


async def open_logo(actor: Actor, slug: str, version: str) -> tuple[Organization, Path, str]:
    """The organisation, its logo's file and how long it may be kept, to whoever may see its
    profile."""
    org = await public_organization(actor, slug)
    if not org.logo_name:
        raise NotFound("The organisation has no logo.")
    path = files.path_of(logos_dir(), org.logo_name)
    if not await files.existing(path):
        raise NotFound("The organisation has no logo.")
    if not org.is_verified:
        # Only its members and administrators see it yet: no shared cache may keep it.
        return org, path, "private, no-store"
    return org, path, FOR_GOOD if version == org.logo_name[:8] else FOR_A_WHILE
