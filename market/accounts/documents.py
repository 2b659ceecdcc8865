"""An organisation's verification documents (a business licence, a registration certificate),
and what the administrators' verification queue shows beside each organisation.

Its owners and admins upload them (`Permission.EDIT_ORGANIZATION`); its members and the
platform administrators may list and download them. Anyone else is told there is no such
document, as for an id that names nothing: a 404, never a 403 that would say it exists.
The bytes are checked and kept as every upload's are (market/files.py), under
var/media/verification.

Once the organisation is verified its documents are what the verification relied on: more may
be added, none removed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from market import audit, files
from market.accounts.models import (
    MemberRole,
    Membership,
    Organization,
    VerificationDocument,
)
from market.accounts.service import (
    list_organizations,
    require_admin,
    require_editor,
    require_org,
)
from market.actor import Actor
from market.db import unit_of_work
from market.errors import Conflict, NotFound, ValidationFailed
from market.locks import lock_existing
from market.validation import object_id, visible_or_404

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS = 10
ACCEPTS = (files.PDF, files.PNG, files.JPEG)
ACCEPTS_TEXT = "PDF documents and PNG or JPEG images"
# The form field (and multipart part) that carries the file, named by every refusal.
FIELD = "document"


def documents_dir() -> Path:
    return files.media_dir("verification")


def can_see(actor: Actor, document: VerificationDocument) -> bool:
    return actor.is_admin or actor.organization_id == str(document.organization_id)  # type: ignore[attr-defined]


def authorize_upload(actor: Actor) -> Organization:
    """Check before reading a body, so that nobody else can make us take megabytes."""
    return require_editor(actor, "give verification documents")


async def add_document(
    actor: Actor, *, filename: str, content_type_hint: str, data: bytes
) -> VerificationDocument:
    org = authorize_upload(actor)
    content_type = files.accepted(
        data, accepts=ACCEPTS, limit=MAX_DOCUMENT_BYTES, accepts_text=ACCEPTS_TEXT, field=FIELD
    )
    # Cheap early refusal; the count that counts is taken again under the row lock below.
    if await VerificationDocument.filter(organization_id=org.id).count() >= MAX_DOCUMENTS:
        raise _too_many()
    stored_name, path = await files.store(documents_dir(), data)
    try:
        async with unit_of_work():
            await lock_existing(Organization, org.id)
            if await VerificationDocument.filter(organization_id=org.id).count() >= MAX_DOCUMENTS:
                raise _too_many()
            document = await VerificationDocument.create(
                organization_id=org.id,
                uploaded_by_id=actor.user_id,
                content_type=content_type,
                original_name=files.clean_name(filename),
                stored_name=stored_name,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
            await audit.record(
                actor,
                "organization.document_added",
                "organization",
                org.id,
                after={
                    **_audit_facts(document),
                    # Kept for the record only: a mismatch hints at a disguised upload.
                    "declared_type": content_type_hint[:100],
                },
            )
    except BaseException:
        files.unlink(path)
        raise
    return document


def _too_many() -> ValidationFailed:
    return files.refuse(
        f"An organisation can give at most {MAX_DOCUMENTS} documents; remove one first.", FIELD
    )


def _audit_facts(document: VerificationDocument) -> dict[str, Any]:
    return {
        "document": str(document.id),
        "original_name": document.original_name,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
    }


async def list_documents(actor: Actor) -> list[VerificationDocument]:
    """The documents of the organisation the actor acts for, oldest first."""
    org = require_org(actor)
    return await VerificationDocument.filter(organization_id=org.id).order_by("created_at", "id")


async def remove_document(actor: Actor, document_id: str) -> None:
    org = authorize_upload(actor)
    document = await VerificationDocument.get_or_none(
        id=object_id(document_id, "document"), organization_id=org.id
    )
    if document is None:
        raise NotFound("No such document.")
    path = files.path_of(documents_dir(), document.stored_name)
    async with unit_of_work():
        current = await lock_existing(Organization, org.id)
        if current.is_verified:
            raise Conflict(
                "The organisation is verified; the documents its verification relied on are "
                "kept. You can add newer ones.",
                state=str(current.verification),
            )
        if await VerificationDocument.filter(id=document.id).delete() != 1:
            raise NotFound("No such document.")
        await audit.record(
            actor,
            "organization.document_removed",
            "organization",
            org.id,
            before=_audit_facts(document),
        )
        files.unlink_after_commit(path)


async def open_document(actor: Actor, document_id: str) -> tuple[VerificationDocument, Path]:
    """The row and the file to serve, to the organisation's members and administrators."""
    document = await visible_or_404(actor, VerificationDocument, document_id, "document", can_see)
    path = files.path_of(documents_dir(), document.stored_name)
    if not await files.existing(path):
        raise NotFound("No such document.")
    return document, path


# --- the administrators' verification queue ----------------------------------------------


@dataclass(frozen=True)
class Applicant:
    """An organisation as an administrator weighs it: its documents, and the domain of the
    address it registered with beside its website's (a hint, not a proof: a mismatch is worth
    a closer look, a match proves little)."""

    organization: Organization
    documents: list[VerificationDocument]
    email_domain: str  # of the first owner's address: who registered it ("" if none is left)
    website_domain: str  # "" when the organisation gave no website

    @property
    def domain_matches(self) -> bool | None:
        """Whether the two are one domain or one is below the other; None: nothing to compare."""
        mail, site = self.email_domain, self.website_domain
        if not mail or not site:
            return None
        return mail == site or mail.endswith("." + site) or site.endswith("." + mail)


def domain_of_website(url: str) -> str:
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


async def applicants(
    actor: Actor, *, state: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Applicant], int]:
    """A page of the verification queue (`list_organizations`' states), with what an
    administrator checks; two more statements for the whole page."""
    require_admin(actor)
    orgs, total = await list_organizations(actor, state=state, page=page, per_page=per_page)
    ids = [org.id for org in orgs]
    documents: dict[str, list[VerificationDocument]] = {str(i): [] for i in ids}
    for document in await VerificationDocument.filter(organization_id__in=ids).order_by(
        "created_at", "id"
    ):
        documents[str(document.organization_id)].append(document)  # type: ignore[attr-defined]
    first_owner: dict[str, str] = {}
    owners = (
        await Membership.filter(organization_id__in=ids, role=MemberRole.OWNER)
        .order_by("created_at", "id")
        .values_list("organization_id", "user__email")
    )
    for org_id, email in owners:
        first_owner.setdefault(str(org_id), email)
    return [
        Applicant(
            organization=org,
            documents=documents[str(org.id)],
            email_domain=first_owner.get(str(org.id), "").rpartition("@")[2].lower(),
            website_domain=domain_of_website(org.website),
        )
        for org in orgs
    ], total
