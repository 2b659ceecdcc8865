"""Limits on attempts (logins, registrations, offers, messages) that hold under bursts.

An attempt is *claimed* before the work it limits, in one atomic statement per bucket:

    INSERT INTO throttle ... ON CONFLICT (key) DO UPDATE SET hits = hits + 1
        WHERE the window is over OR hits < limit RETURNING ...

The database takes the bucket's row lock for that statement, so of fifty requests arriving at
once exactly `limit` get a row back and the others none: a count read first and written after
the expensive check (argon2) let a burst of 30 wrong passwords through a limit of 5. The
windows are fixed (a bucket's window starts with its first hit, and the `Retry-After` is the
time to its end).

`claim` takes several buckets all or nothing (a login counts against its account and its
address): buckets are taken in key order, so two claims can never wait on each other, and a
refusal by one rolls back the others, so a request refused by its account's limit never counts
against its address.

Where it runs: a claim joins the caller's unit of work. A use case whose own writes come right
after (an offer, a message) claims first inside its transaction, and a refused or failed offer
rolls its hit back with it; that row lock is always the first its transaction takes, so it
cannot join a cycle with `market.locks`. A use case that must count an attempt whatever its
outcome (a wrong password) claims in a short transaction of its own before the slow part, and
gives the hit back with `release` when the attempt turns out not to count (a right password).

Why the database and not Redis: every use case limited here needs the database anyway (the
user row, the offer), and this one answers for them atomically; counters in Redis would add a
failure mode of their own to login, where neither answer is acceptable: failing open lets a
Redis outage open brute force, failing closed locks every user out. With the counters in the
database a Redis outage changes nothing here, and the per-run test database keeps parallel test
runs apart (a Redis key would need the queue name in it). On SQLite (`market dev`) the
statement is the same, and the driver runs one transaction at a time.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from tortoise import Tortoise, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from market.clock import utcnow
from market.db import current_unit_of_work, unit_of_work
from market.errors import TooManyRequests

log = logging.getLogger(__name__)

# Rows whose window ended this long ago are swept when a new window starts somewhere.
SWEEP_AFTER_MS = 24 * 3600 * 1000
SWEEP_BATCH = 500


class ThrottleCount(Model):
    """One bucket's hits in its current window (a fixed window, ended by resets_at)."""

    key = fields.CharField(max_length=200, primary_key=True)
    hits = fields.IntField()
    # Milliseconds since the epoch: one plain integer compares the same on every database.
    resets_at = fields.BigIntField(db_index=True)

    class Meta:
        table = "throttle"


@dataclass(frozen=True)
class Bucket:
    """At most `limit` attempts per `window` seconds for each subject (an account, an
    address, a user). `refusal` is the message, with `{wait}` for how long to wait."""

    name: str
    limit: int
    window: int
    refusal: str

    def key(self, subject: str) -> str:
        return f"{self.name}:{subject}"


@dataclass
class Ticket:
    """The hits one claim took: (key, the end of the window it counted in)."""

    hits: list[tuple[str, int]] = field(default_factory=list)


def subject_of(text: str) -> str:
    """A fixed-length subject for free text (an e-mail address): bounded keys, and the table
    does not become a list of the addresses someone tried."""
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()[:32]


def _now_ms() -> int:
    return int(utcnow().timestamp() * 1000)


def _sql(statement: str, dialect: str) -> str:
    """Written with `?` (sqlite's style); asyncpg numbers its parameters."""
    if dialect != "postgres":
        return statement
    parts = statement.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


# Parameters: key, end of a new window, now, now, end of a new window, now, limit.
_CLAIM = """
INSERT INTO throttle (key, hits, resets_at) VALUES (?, 1, ?)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN throttle.resets_at <= ? THEN 1 ELSE throttle.hits + 1 END,
    resets_at = CASE WHEN throttle.resets_at <= ? THEN ? ELSE throttle.resets_at END
WHERE throttle.resets_at <= ? OR throttle.hits < ?
RETURNING hits, resets_at
"""

_RELEASE = "UPDATE throttle SET hits = hits - 1 WHERE key = ? AND resets_at = ? AND hits > 0"

_SWEEP = {
    # SKIP LOCKED: a sweep never waits for (or deadlocks with) a claim or another sweep.
    "postgres": """
DELETE FROM throttle WHERE key IN (
    SELECT key FROM throttle WHERE resets_at < ? LIMIT ? FOR UPDATE SKIP LOCKED)
""",
    "sqlite": """
DELETE FROM throttle WHERE key IN (SELECT key FROM throttle WHERE resets_at < ? LIMIT ?)
""",
}


def _connection() -> BaseDBAsyncClient:
    # Inside a unit of work this is its transaction.
    return Tortoise.get_connection("default")


async def claim(*claims: tuple[Bucket, str]) -> Ticket:
    """Count one attempt in every (bucket, subject), all or none; raise TooManyRequests
    (with Retry-After) when any of them is full. Joins the caller's unit of work, or runs in
    one of its own (committed on return) when there is none."""
    async with unit_of_work():
        return await _claim(claims)


async def _claim(claims: tuple[tuple[Bucket, str], ...]) -> Ticket:
    conn = _connection()
    dialect = conn.capabilities.dialect
    now = _now_ms()
    ticket = Ticket()
    started = False
    # Key order: two claims sharing buckets take their rows in the same order.
    for bucket, subject in sorted(claims, key=lambda c: c[0].key(c[1])):
        key = bucket.key(subject)
        ends = now + bucket.window * 1000
        rows = await conn.execute_query_dict(
            _sql(_CLAIM, dialect), [key, ends, now, now, ends, now, bucket.limit]
        )
        if not rows or bucket.limit < 1:
            # Raising rolls back this claim's other hits with the caller's transaction.
            raise await _refusal(conn, dialect, bucket, key, now)
        started = started or rows[0]["hits"] == 1
        ticket.hits.append((key, int(rows[0]["resets_at"])))
    if started:
        current_unit_of_work().after_commit.append(sweep)
    return ticket


async def _refusal(
    conn: BaseDBAsyncClient, dialect: str, bucket: Bucket, key: str, now: int
) -> TooManyRequests:
    rows = await conn.execute_query_dict(
        _sql("SELECT resets_at FROM throttle WHERE key = ?", dialect), [key]
    )
    ends = int(rows[0]["resets_at"]) if rows else now + bucket.window * 1000
    wait = max(1, -(-(ends - now) // 1000))  # whole seconds, rounded up
    minutes = max(1, -(-wait // 60))
    text = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return TooManyRequests(bucket.refusal.format(wait=text), retry_after=wait)


async def release(ticket: Ticket) -> None:
    """Give the ticket's hits back (the attempt turned out not to count); a window that has
    started again since keeps its count."""
    if not ticket.hits:
        return
    async with unit_of_work():
        conn = _connection()
        for key, resets_at in ticket.hits:
            await conn.execute_query(_sql(_RELEASE, conn.capabilities.dialect), [key, resets_at])


async def forget(bucket: Bucket, subject: str) -> None:
    """Clear a subject's count in a bucket (a password reset lifts the account's lockout)."""
    await ThrottleCount.filter(key=bucket.key(subject)).delete()


async def sweep() -> None:
    """Delete buckets whose window ended long ago, a batch at a time. Runs after a claim that
    started a window commits, so the table holds about the subjects active in the last day."""
    conn = _connection()
    dialect = conn.capabilities.dialect
    try:
        await conn.execute_query(
            _sql(_SWEEP.get(dialect, _SWEEP["sqlite"]), dialect),
            [_now_ms() - SWEEP_AFTER_MS, SWEEP_BATCH],
        )
    except Exception:
        # Housekeeping only: the attempt it follows has succeeded and must not fail now.
        log.exception("sweeping old throttle counts failed")
