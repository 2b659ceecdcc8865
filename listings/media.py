"""Images and PDF brochures attached to a listing: what may be uploaded and who may see it.
The bytes are checked and kept as every upload's are (market/files.py: var/media, under random
names, outside anything served statically)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from listings.models import Listing, ListingMedia, ListingState, MediaKind
from listings.service import PUBLIC_STATES, _load, can_see, media_shown, roles_on
from market import audit, files, rows
from market.actor import Actor
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from market.locks import lock_existing
from market.validation import object_id

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 10 * 1024 * 1024
MAX_MEDIA_PER_LISTING = 20
ALLOWED_TEXT = "JPEG, PNG, GIF or WebP images and PDF documents"
ACCEPTS = (files.JPEG, files.PNG, files.GIF, files.WEBP, files.PDF)


def media_dir() -> Path:
    return files.media_dir()


def _path_of(media: ListingMedia) -> Path:
    return files.path_of(media_dir(), media.stored_name)


def download_name(media: ListingMedia) -> str:
    return files.download_name(media.original_name, media.content_type)


def is_private(media: ListingMedia, listing: Listing) -> bool:
    """Whether only the owner and administrators see it (so no shared cache may keep it)."""
    return media.confidential or listing.state not in PUBLIC_STATES


# --- permission --------------------------------------------------------------------------


def _require_manager(actor: Actor, listing: Listing) -> None:
    if not can_see(actor, listing):
        raise NotFound("No such listing.")
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if "member" not in roles_on(actor, listing):
        raise Forbidden("Only the institute that owns this listing can change its files.")
    _require_changeable(listing)


def _require_changeable(listing: Listing) -> None:
    if listing.state == ListingState.LICENSED:
        raise Conflict(
            "The listing is licensed; its files can no longer be changed.",
            state=str(listing.state),
        )


async def authorize_upload(actor: Actor, listing_id: str) -> Listing:
    """Check before reading a body, so strangers cannot make us accept megabytes."""
    listing = await _load(listing_id)
    _require_manager(actor, listing)
    return listing


# --- use cases ---------------------------------------------------------------------------


async def add_media(
    actor: Actor,
    listing_id: str,
    *,
    filename: str,
    content_type_hint: str,
    data: bytes,
    confidential: bool,
) -> ListingMedia:
    listing = await _load(listing_id)
    _require_manager(actor, listing)
    content_type = files.accepted(
        data, accepts=ACCEPTS, limit=MAX_MEDIA_BYTES, accepts_text=ALLOWED_TEXT
    )
    kind = MediaKind.PDF if content_type == files.PDF else MediaKind.IMAGE
    # Cheap early refusal; the count that counts is taken again under the row lock below.
    if await ListingMedia.filter(listing_id=listing.id).count() >= MAX_MEDIA_PER_LISTING:
        raise _too_many()

    stored_name, path = await files.store(media_dir(), data)
    try:
        async with unit_of_work():
            current = await lock_existing(Listing, listing.id)
            _require_changeable(current)
            if await ListingMedia.filter(listing_id=listing.id).count() >= MAX_MEDIA_PER_LISTING:
                raise _too_many()
            media = await ListingMedia.create(
                listing_id=listing.id,
                kind=kind,
                content_type=content_type,
                original_name=files.clean_name(filename),
                stored_name=stored_name,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                confidential=confidential,
            )
            await audit.record(
                actor,
                "listing.media_added",
                "listing",
                listing.id,
                after={
                    **_audit_facts(media),
                    # Kept for the record only: a mismatch hints at a disguised upload.
                    "declared_type": content_type_hint[:100],
                },
                organization_id=listing.institute_id,  # type: ignore[attr-defined]
            )
    except BaseException:
        files.unlink(path)
        raise
    return media


def _too_many() -> ValidationFailed:
    return files.refuse(
        f"A listing can have at most {MAX_MEDIA_PER_LISTING} files; remove one first."
    )


def _audit_facts(media: ListingMedia) -> dict[str, Any]:
    return {
        "media": str(media.id),
        "kind": str(media.kind),
        "original_name": media.original_name,
        "size": media.size,
        "sha256": media.sha256,
        "confidential": media.confidential,
    }


async def remove_media(actor: Actor, listing_id: str, media_id: str) -> None:
    listing = await _load(listing_id)
    _require_manager(actor, listing)
    media = await ListingMedia.get_or_none(id=object_id(media_id, "file"), listing_id=listing.id)
    if media is None:
        raise NotFound("No such file.")
    path = _path_of(media)
    async with unit_of_work():
        current = await lock_existing(Listing, listing.id)
        _require_changeable(current)
        if await ListingMedia.filter(id=media.id).delete() != 1:
            raise NotFound("No such file.")
        await audit.record(
            actor,
            "listing.media_removed",
            "listing",
            listing.id,
            before=_audit_facts(media),
            organization_id=listing.institute_id,  # type: ignore[attr-defined]
        )
        files.unlink_after_commit(path)


async def visible_media(actor: Actor, listing: Listing) -> list[ListingMedia]:
    """The files this actor may see on the listing, oldest first."""
    if not can_see(actor, listing):
        return []
    found = await _MEDIA.fetch([listing.id])
    return media_shown(actor, listing, [rows.build(ListingMedia, row, "f") for row in found])  # type: ignore[misc]


_MEDIA = rows.Statement(
    "SELECT {f} FROM listing_media f WHERE f.listing_id = $1 ORDER BY f.created_at, f.id",
    f=ListingMedia,
)


async def open_media(actor: Actor, media_id: str) -> tuple[ListingMedia, Path]:
    """The row and the file to serve; NotFound for anyone who may not know it exists."""
    media = (
        await ListingMedia.filter(id=object_id(media_id, "file")).select_related("listing").first()
    )
    if media is None:
        raise NotFound("No such file.")
    listing: Listing = media.listing
    if is_private(media, listing) and not roles_on(actor, listing) & {"member", "admin"}:
        raise NotFound("No such file.")
    path = _path_of(media)
    if not await files.existing(path):
        log.error("media %s has a row but no file %s", media.id, media.stored_name)
        raise NotFound("No such file.")
    return media, path
