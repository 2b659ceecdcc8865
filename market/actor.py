"""Who is acting: every service function takes one first.

The system (another domain acting on its own authority) is an actor of a class of its own that
only `Actor.system()` hands out: nothing a request carries (an address, a header, a token) can
make an actor the system, so a forged `X-Forwarded-For: system` stays an anonymous visitor."""

from __future__ import annotations

from dataclasses import dataclass

from market.accounts.models import MemberRole, Organization, OrganizationKind, User


@dataclass(frozen=True)
class Actor:
    user: User | None
    organization: Organization | None = None
    role: MemberRole | None = None
    ip: str = ""
    via_token: bool = False
    # The membership's right to sign contracts for the organisation (market/accounts/roles.py).
    can_sign: bool = False
    # Acting through an API token whose scope is "read": the API refuses every write.
    read_only: bool = False
    # Whether the user proved who they are lately: a session logged in within the last
    # `REAUTHENTICATE_AFTER` is; an older session or an API token is not, and signing a
    # contract then asks for the password again. Our own code acting for a user (the seed,
    # tests, the importer) is.
    recently_authenticated: bool = True

    @classmethod
    def anonymous(cls, ip: str = "") -> Actor:
        return cls(user=None, ip=ip)

    @staticmethod
    def system() -> Actor:
        return _SYSTEM

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None

    @property
    def is_system(self) -> bool:
        """Another domain acting on its own authority (a contract licensing a listing); only
        the one instance `Actor.system()` returns is."""
        return False

    @property
    def is_admin(self) -> bool:
        return (
            self.user is not None
            and self.organization is not None
            and self.organization.kind == OrganizationKind.PLATFORM
        )

    def standing(self) -> set[str]:
        """The roles an actor holds on every row of every lifecycle, before any the row gives:
        "system" for the system, "admin" for a platform administrator."""
        if self.is_system:
            return {"system"}
        return {"admin"} if self.is_admin else set()

    @property
    def user_id(self) -> str | None:
        return str(self.user.id) if self.user else None

    @property
    def organization_id(self) -> str | None:
        return str(self.organization.id) if self.organization else None


@dataclass(frozen=True)
class _SystemActor(Actor):
    """The system: private, so that no code path builds one from what a request says. Its
    `ip` only labels the audit trail; nothing decides on it."""

    @property
    def is_system(self) -> bool:
        return True


_SYSTEM = _SystemActor(user=None, ip="system")
