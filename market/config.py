"""One Settings object, read from the environment (and `.env` when present)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    var_dir: Path = Field(default=ROOT / "var", validation_alias="MARKET_VAR_DIR")
    database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = "techmarket:queue"
    meili_url: str = "http://127.0.0.1:7700"
    meili_key: str = ""
    # The index of published listings; `market reindex` builds `<name>_build_<random>` and swaps.
    meili_index: str = "listings"
    # The index of published technology needs (docking/search.py), rebuilt the same way.
    meili_needs_index: str = "needs"
    # A search Meilisearch does not answer within this falls back to a simple database query.
    search_timeout_ms: int = 800
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    stripe_publishable_key: str = ""
    # Where the pay page loads Stripe.js from; `market dev` and the tests point it at the local
    # test server's compatible script.
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # Seconds a webhook's signed timestamp may be old (Stripe's own default).
    stripe_webhook_tolerance: int = 300
    # The platform's fee on every payment, in percent; rounded half up to the minor unit.
    platform_fee_percent: Decimal = Decimal("5")
    # A card payment pending or processing this long is checked against Stripe by a cron job.
    payment_reconcile_minutes: int = 10
    # Bank transfers (large deals): the account buyers pay into, shown with the reference.
    bank_account_name: str = "techmarket Ltd client account"
    bank_iban: str = "GB33 BUKB 2020 1555 5555 55"
    bank_bic: str = "BUKBGB22"
    bank_name: str = "Example Bank plc"
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    mail_from: str = "techmarket <no-reply@techmarket.invalid>"
    # Where people write for help: the onboarding checklist, the terms and the privacy page.
    support_email: str = "support@techmarket.example"
    # What the onboarding checklist says a verification usually takes, in working days.
    verification_days: int = 2
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    session_days: int = 14
    # A session unused this long ends, whatever its absolute expiry.
    session_idle_hours: int = 72
    # Throttling thresholds for failed logins within `login_window_minutes`.
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 20
    login_window_minutes: int = 15
    # Per user and hour: offers and counter-offers, and messages on offers.
    offer_limit_per_hour: int = 20
    message_limit_per_hour: int = 60
    # New enquiries (questions on listings) an organisation may open per day.
    enquiry_limit_per_day: int = 20
    # The side whose turn it is hears this long before an offer expires.
    offer_reminder_hours: int = 24
    # Days after signing opens (the trade approved) that a party yet to sign is reminded, and
    # after which a contract still unsigned is cancelled.
    contract_reminder_days: int = 3
    contract_cancel_days: int = 14
    # Registrations per address and hour (each one costs a password hash and a review); an
    # institute registering its researchers from behind one address may need it raised.
    registrations_per_ip_per_hour: int = 10
    # Days after signing opens within which a contract that reserves rights others wait for (an
    # exclusive, sole or assignment grant, or offers put on hold by its acceptance) must be
    # signed; unsigned by then it lapses and the held offers resume. It shortens, for those
    # contracts only, the same deadline CONTRACT_CANCEL_DAYS sets for every contract (the
    # outer limit, for a contract that keeps nobody waiting): one sweep, `cancel_unsigned`,
    # enforces both, each contract's length chosen by `agreements.days_to_sign`. Keep it above
    # CONTRACT_REMINDER_DAYS, so the reminder comes before the lapse.
    signing_days: int = 7

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
            raise ValueError("DATABASE_URL must start with sqlite://, postgres:// or postgresql://")
        return value

    @field_validator("platform_fee_percent")
    @classmethod
    def _a_percentage(cls, value: Decimal) -> Decimal:
        if not Decimal(0) <= value < Decimal(100):
            raise ValueError("PLATFORM_FEE_PERCENT must be at least 0 and below 100")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            # Tortoise knows postgres:// but not the postgresql:// spelling many tools print.
            if self.database_url.startswith("postgresql://"):
                return "postgres://" + self.database_url.removeprefix("postgresql://")
            return self.database_url
        return f"sqlite://{self.var_dir / 'market.sqlite3'}"

    @property
    def is_postgres(self) -> bool:
        return self.effective_database_url.startswith(("postgres://", "asyncpg://"))

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def require_secret_key(self) -> str:
        if len(self.secret_key) < 32:
            raise ConfigError(
                "SECRET_KEY is not set (or shorter than 32 characters); "
                "`market dev` generates one under var/, elsewhere set it in the environment"
            )
        return self.secret_key

    def require_webhook_secret(self) -> None:
        """Card payments on (a Stripe key set) need the webhook's signing secret: without it
        no payment could ever be confirmed, or worse, an unsigned event would be believed."""
        if self.stripe_secret_key and not self.stripe_webhook_secret.strip():
            raise ConfigError(
                "STRIPE_WEBHOOK_SECRET is not set but STRIPE_SECRET_KEY is (card payments on); "
                "set it to the signing secret of the webhook endpoint in Stripe"
            )


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message is one line meant for the operator."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
