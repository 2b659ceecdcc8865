"""Images and PDF brochures attached to a listing: what may be uploaded, who may see it, and
where the bytes live (var/media, under random names, outside anything served statically)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any

from listings.models import Listing, ListingMedia, ListingState, MediaKind
from listings.service import PUBLIC_STATES, _load, can_see, roles_on
from market import audit, rows
from market.actor import Actor
from market.config import get_settings
from market.db import current_unit_of_work, unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from market.locks import lock_existing
from market.validation import object_id

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 10 * 1024 * 1024
MAX_MEDIA_PER_LISTING = 20
ALLOWED_TEXT = "JPEG, PNG, GIF or WebP images and PDF documents"
_STORED_NAME = re.compile(r"[0-9a-f]{32}")

# (prefix, content type, kind, usual extensions). Only the bytes decide; names and the
# client's Content-Type are whatever the uploader chose to say.
_SIGNATURES: tuple[tuple[bytes, str, MediaKind, tuple[str, ...]], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", MediaKind.IMAGE, (".jpg", ".jpeg")),
    (b"\x89PNG\r\n\x1a\n", "image/png", MediaKind.IMAGE, (".png",)),
    (b"GIF87a", "image/gif", MediaKind.IMAGE, (".gif",)),
    (b"GIF89a", "image/gif", MediaKind.IMAGE, (".gif",)),
    (b"%PDF-", "application/pdf", MediaKind.PDF, (".pdf",)),
)
_EXTENSIONS = {ctype: exts for _, ctype, _, exts in _SIGNATURES} | {"image/webp": (".webp",)}


class TooLarge(ValidationFailed):
    status = 413
    code = "too_large"


def too_large() -> TooLarge:
    why = f"The file is larger than {MAX_MEDIA_BYTES // (1024 * 1024)} MiB."
    return TooLarge(why, fields={"file": why})


def _refuse_file(why: str) -> ValidationFailed:
    return ValidationFailed(why, fields={"file": why})


def sniff(data: bytes) -> tuple[str, MediaKind] | None:
    """The content type the first bytes prove, or None when they prove nothing we accept."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", MediaKind.IMAGE
    for prefix, content_type, kind, _ in _SIGNATURES:
        if data.startswith(prefix):
            return content_type, kind
    return None


def media_dir() -> Path:
    return get_settings().var_dir / "media"


def _path_of(media: ListingMedia) -> Path:
    # A stored name is always ours, but a row edited by hand must still not walk the disk.
    if not _STORED_NAME.fullmatch(media.stored_name):
        raise NotFound("No such file.")
    return media_dir() / media.stored_name


def _clean_name(filename: str) -> str:
    name = "".join(ch for ch in filename if ch.isprintable()).strip()
    return name[:255] or "file"


def download_name(media: ListingMedia) -> str:
    """The original name, with an extension matching the real content appended when missing,
    so a PNG uploaded as `page.html` is never saved to disk as HTML."""
    name = media.original_name or "file"
    exts = _EXTENSIONS.get(media.content_type, ())
    if exts and not name.lower().endswith(exts):
        name += exts[0]
    return name


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


# --- storage -----------------------------------------------------------------------------


def _write_file(directory: Path, stored_name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = directory / stored_name
    partial = directory / f".{stored_name}.part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        # A reader never sees half a file: the name appears only once the bytes are complete.
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.exception("could not remove media file %s", path.name)


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
    if not data:
        raise _refuse_file("The file is empty.")
    if len(data) > MAX_MEDIA_BYTES:
        raise too_large()
    sniffed = sniff(data)
    if sniffed is None:
        raise _refuse_file(f"Only {ALLOWED_TEXT} can be uploaded; this file is none of these.")
    content_type, kind = sniffed
    # Cheap early refusal; the count that counts is taken again under the row lock below.
    if await ListingMedia.filter(listing_id=listing.id).count() >= MAX_MEDIA_PER_LISTING:
        raise _too_many()

    stored_name = secrets.token_hex(16)
    path = await asyncio.to_thread(_write_file, media_dir(), stored_name, data)
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
                original_name=_clean_name(filename),
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
        # Synchronous on purpose: an await here could itself be cancelled and leave an orphan.
        _unlink(path)
        raise
    return media


def _too_many() -> ValidationFailed:
    return _refuse_file(
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

        # Only after commit: a rolled-back delete must still find its bytes.
        async def remove_file() -> None:
            await asyncio.to_thread(_unlink, path)

        current_unit_of_work().after_commit.append(remove_file)


async def visible_media(actor: Actor, listing: Listing) -> list[ListingMedia]:
    """The files this actor may see on the listing page, oldest first."""
    if not can_see(actor, listing):
        return []
    # On every listing page: written out (see market/rows.py).
    insider = bool(roles_on(actor, listing) & {"member", "admin"})
    found = await _MEDIA.fetch([listing.id, insider])
    return [rows.build(ListingMedia, row, "f") for row in found]  # type: ignore[misc]


_MEDIA = rows.Statement(
    """
SELECT {f} FROM listing_media f
WHERE f.listing_id = $1 AND (NOT f.confidential OR $2)
ORDER BY f.created_at, f.id
""",
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
    if not await asyncio.to_thread(path.is_file):
        log.error("media %s has a row but no file %s", media.id, media.stored_name)
        raise NotFound("No such file.")
    return media, path
