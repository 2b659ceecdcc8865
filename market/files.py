"""Files people upload (a listing's images and brochures, an organisation's verification
documents and logo): what the bytes are, how many of them we take, where they are kept and how
they go back out.

- Only the bytes decide the type (`sniff`): a file's name and the Content-Type its uploader
  sent are whatever the uploader chose to say.
- Files live under var/media (and folders below it), under random names of ours, outside
  anything served statically: nothing a user typed reaches the file system.
- A file appears under its name only once its bytes are complete (`store`), and a row's file
  is removed only after the row's deletion committed (`unlink_after_commit`).
- An upload is read within its limit while it streams (`read_upload`, through market/limits.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from collections.abc import Collection
from functools import partial
from pathlib import Path
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse

from market import limits
from market.config import get_settings
from market.db import current_unit_of_work
from market.errors import NotFound, ValidationFailed
from market.i18n import Msg

log = logging.getLogger(__name__)

JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
WEBP = "image/webp"
PDF = "application/pdf"

# (first bytes, content type)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"%PDF-", PDF),
)
EXTENSIONS = {
    JPEG: (".jpg", ".jpeg"),
    PNG: (".png",),
    GIF: (".gif",),
    WEBP: (".webp",),
    PDF: (".pdf",),
}
_STORED_NAME = re.compile(r"[0-9a-f]{32}")
# Room for the multipart envelope around the file (boundaries, part headers, the CSRF token
# and a few small fields).
ENVELOPE_BYTES = 64 * 1024


class TooLarge(ValidationFailed):
    status = 413
    code = "too_large"


def size_text(size: int) -> str:
    """A limit as people read it: "10 MiB", "512 KiB"."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    return f"{size // 1024} KiB"


def too_large(limit: int, field: str = "file") -> TooLarge:
    why = f"The file is larger than {size_text(limit)}."
    return TooLarge(why, fields={field: why})


def refuse(why: str, field: str = "file") -> ValidationFailed:
    return ValidationFailed(why, fields={field: why})


def sniff(data: bytes) -> str | None:
    """The content type the first bytes prove, or None when they prove nothing we know."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    for prefix, content_type in _SIGNATURES:
        if data.startswith(prefix):
            return content_type
    return None


def accepted(
    data: bytes, *, accepts: Collection[str], limit: int, accepts_text: str, field: str = "file"
) -> str:
    """The content type of an upload, or the refusal naming `field`: an empty file, one
    larger than `limit`, or bytes of none of the types `accepts` (named by `accepts_text`)."""
    if not data:
        raise refuse("The file is empty.", field)
    if len(data) > limit:
        raise too_large(limit, field)
    content_type = sniff(data)
    if content_type not in accepts:
        raise refuse(
            Msg(
                "Only %(accepts_text)s can be uploaded; this file is none of these.",
                accepts_text=accepts_text,
            ),
            field,
        )
    return content_type


# --- storage -----------------------------------------------------------------------------


def media_dir(*below: str) -> Path:
    return get_settings().var_dir.joinpath("media", *below)


def path_of(directory: Path, stored_name: str) -> Path:
    # A stored name is always ours, but a row edited by hand must still not walk the disk.
    if not _STORED_NAME.fullmatch(stored_name):
        raise NotFound("No such file.")
    return directory / stored_name


def clean_name(filename: str) -> str:
    """The uploader's file name, kept as data: printable characters, at most 255."""
    name = "".join(ch for ch in filename if ch.isprintable()).strip()
    return name[:255] or "file"


def download_name(name: str, content_type: str) -> str:
    """The original name, with an extension matching the real content appended when missing,
    so a PNG uploaded as `page.html` is never saved to disk as HTML."""
    name = name or "file"
    exts = EXTENSIONS.get(content_type, ())
    if exts and not name.lower().endswith(exts):
        name += exts[0]
    return name


def _write_file(directory: Path, stored_name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = directory / stored_name
    partial_file = directory / f".{stored_name}.part"
    fd = os.open(partial_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        # A reader never sees half a file: the name appears only once the bytes are complete.
        os.replace(partial_file, final)
    except BaseException:
        partial_file.unlink(missing_ok=True)
        raise
    return final


async def store(directory: Path, data: bytes) -> tuple[str, Path]:
    """Write the bytes under a new random name in `directory`: (the name, the file). A caller
    whose row then fails to commit removes the file with `unlink`."""
    stored_name = secrets.token_hex(16)
    path = await asyncio.to_thread(_write_file, directory, stored_name, data)
    return stored_name, path


def unlink(path: Path) -> None:
    """Synchronous on purpose: called while unwinding, where an await could itself be
    cancelled and leave an orphan."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.exception("could not remove the file %s", path.name)


def unlink_after_commit(path: Path) -> None:
    """Remove the file once the current unit of work commits: a rolled-back deletion must
    still find its bytes."""

    async def remove_file() -> None:
        await asyncio.to_thread(unlink, path)

    current_unit_of_work().after_commit.append(remove_file)


async def existing(path: Path) -> bool:
    return await asyncio.to_thread(path.is_file)


# --- over HTTP ---------------------------------------------------------------------------


async def read_upload(
    request: Request, field: str, limit: int
) -> tuple[FormData, UploadFile, bytes]:
    """The parsed multipart form, its file part `field` and that part's bytes, never more than
    `limit` (a 413 naming `field`)."""
    # Starlette caps form fields but not file parts, so the cap sits on the raw body: refused
    # at once when declared larger, and once it passes the limit when the client lies about
    # (or omits) Content-Length.
    capped = limits.limited(request, limit + ENVELOPE_BYTES, partial(too_large, limit, field))
    try:
        form = await capped.form(max_files=1, max_fields=10, max_part_size=ENVELOPE_BYTES)
    except HTTPException as exc:  # malformed multipart, a second file, too many fields
        raise refuse(str(exc.detail), field) from None
    try:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise refuse("Choose a file to upload.", field)
        data = await upload.read(limit + 1)
    finally:
        await form.close()
    if len(data) > limit:
        raise too_large(limit, field)
    return form, upload, data


def file_response(
    path: Path,
    content_type: str,
    name: str,
    *,
    private: bool,
    cache: str = "public, max-age=300",
) -> FileResponse:
    """A stored file, named for the downloader; images shown inline, everything else saved.
    A private one is kept by no cache."""
    disposition = "inline" if content_type.startswith("image/") else "attachment"
    headers = {
        "Content-Disposition": (
            f"{disposition}; filename*=UTF-8''{quote(download_name(name, content_type), safe='')}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store" if private else cache,
        # Should a file ever be rendered as a document, it runs nothing and reaches nothing.
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return FileResponse(path, media_type=content_type, headers=headers)
