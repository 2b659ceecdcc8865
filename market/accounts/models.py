"""Users, organisations, memberships, sessions and API tokens."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class OrganizationKind(StrEnum):
    INSTITUTE = "institute"
    ENTERPRISE = "enterprise"
    PLATFORM = "platform"


class Verification(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class MemberRole(StrEnum):
    """What a member may do is market/accounts/roles.py's table."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Organization(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(OrganizationKind, max_length=16)
    country = fields.CharField(max_length=2)
    region = fields.CharField(max_length=100, default="")
    website = fields.CharField(max_length=300, default="")
    verification = fields.CharEnumField(
        Verification, max_length=16, default=Verification.PENDING, db_index=True
    )
    rejection_reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    # The public profile's address, /organizations/<slug>: made once, kept through renames so
    # links to it keep working (see `slug_for`).
    slug = fields.CharField(max_length=80, unique=True, null=True)
    # A short public description, in English and in Chinese.
    about = fields.TextField(default="")
    about_zh = fields.TextField(default="")
    # A verified organisation's new name or country, waiting for an administrator: the public
    # keeps seeing the verified ones until then. Empty: nothing is waiting.
    proposed_name = fields.CharField(max_length=200, default="")
    proposed_country = fields.CharField(max_length=2, default="")
    # The number the organisation is registered under (a unified social credit code, a
    # commercial register number): administrators check it before verifying.
    registration_number = fields.CharField(max_length=64, default="")
    # The logo's stored file under var/media/logos (a random name), and its content type;
    # empty: none.
    logo_name = fields.CharField(max_length=64, default="")
    logo_type = fields.CharField(max_length=64, default="")
    # An administrator lets the organisation run exhibition-hall events (hall/).
    organises_events = fields.BooleanField(default=False)

    class Meta:
        table = "organization"

    @property
    def is_verified(self) -> bool:
        return self.verification == Verification.VERIFIED

    @property
    def logo_url(self) -> str:
        """Where the logo is served ("" when none). Each upload has a new stored name and the
        address carries its start, so a cache may keep an address's answer for good
        (market/accounts/logos.py)."""
        if not (self.logo_name and self.slug):
            return ""
        return f"/organizations/{self.slug}/logo?v={self.logo_name[:8]}"

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.slug:
            self.slug = slug_for(self.name, self.id)
            fields_given = kwargs.get("update_fields")
            if fields_given is not None:
                kwargs["update_fields"] = [*fields_given, "slug"]
        await super().save(*args, **kwargs)


def slug_for(name: str, org_id: Any) -> str:
    """Lower-case ASCII words of the name and the start of the id (so two organisations of one
    name differ, and no check is needed): "ningbo-institute-of-magnetic-materials-3f2a9c". A
    name with no ASCII letters (a Chinese one) gives "org-3f2a9c"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    stem = "-".join(words)[:60].strip("-") or "org"
    return f"{stem}-{str(org_id).replace('-', '')[:6]}"


class User(Model):
    id = fields.UUIDField(primary_key=True)
    # Stored lower-cased so uniqueness is case-insensitive on every database.
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=120)
    password_hash = fields.CharField(max_length=255)
    is_active = fields.BooleanField(default=True)
    locale = fields.CharField(max_length=8, default="en")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    # When the user followed the link mailed to their address; until then the account can
    # only look after its own profile (market/accounts/roles.py).
    email_verified_at = fields.DatetimeField(null=True)

    class Meta:
        table = "user"

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class Membership(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="memberships", on_delete=fields.CASCADE
    )
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "models.Organization", related_name="memberships", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(MemberRole, max_length=16, default=MemberRole.MEMBER)
    # Signing binds the organisation: an owner grants it to a member, whatever their role.
    can_sign = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "membership"
        unique_together = (("user", "organization"),)


# A server-side login; the cookie holds a random token, the table only its hash.
class Session(Model):
    id = fields.UUIDField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    ip = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=300, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    # When it was last used, to a few minutes (see `accounts.service.read_session`).
    last_seen_at = fields.DatetimeField(null=True)
    # The organisation the user acts for in this session, among theirs (switched on the
    # organisation page); none: the one they joined first.
    organization_id = fields.UUIDField(null=True)

    class Meta:
        table = "session"


# A personal API token; only its SHA-256 is kept, the token itself is shown once.
class ApiToken(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="api_tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    token_hash = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=12)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    # Optional: a token made for a job can end on its own.
    expires_at = fields.DatetimeField(null=True)
    # "read": GET only; "read_write": everything its user may do.
    scope = fields.CharField(max_length=16, default="read_write")

    class Meta:
        table = "api_token"


# An invitation to join an organisation. The mailed link holds a random token; only its hash is
# kept, and each mailing makes a new one (the link of an earlier mail stops working).
class Invitation(Model):
    id = fields.UUIDField(primary_key=True)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "models.Organization", related_name="invitations", on_delete=fields.CASCADE
    )
    # Lower-cased, as User.email is.
    email = fields.CharField(max_length=254)
    role = fields.CharEnumField(MemberRole, max_length=16, default=MemberRole.MEMBER)
    invited_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="invitations_sent", null=True, on_delete=fields.SET_NULL
    )
    token_hash = fields.CharField(max_length=64, default="", db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField()
    accepted_at = fields.DatetimeField(null=True)
    accepted_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="invitations_accepted", null=True, on_delete=fields.SET_NULL
    )
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "invitation"
        indexes = (("organization_id", "email"),)


# A password reset asked for by e-mail. The mailed link holds a random token made when the mail
# goes out; only its hash is kept. Used once, within an hour.
class PasswordReset(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="password_resets", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, default="", db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "password_reset"


# A link mailed to confirm a user's address; like a reset, the token is made when the mail goes
# out and only its hash is kept. Used once, within `verification.LINK_HOURS`.
class EmailVerification(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="email_verifications", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, default="", db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "email_verification"


# A document an organisation gives for its verification (a business licence, a registration
# certificate): seen only by its members and the administrators.
class VerificationDocument(Model):
    id = fields.UUIDField(primary_key=True)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "models.Organization", related_name="verification_documents", on_delete=fields.CASCADE
    )
    uploaded_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="verification_documents", null=True, on_delete=fields.SET_NULL
    )
    content_type = fields.CharField(max_length=64)
    original_name = fields.CharField(max_length=255)
    # A random name under var/media/verification: nothing a user typed reaches the file system.
    stored_name = fields.CharField(max_length=64, unique=True)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "verification_document"
