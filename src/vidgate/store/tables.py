"""SQLAlchemy tables. The task row is the source of truth; the ledger is append-only."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    # approved accounts may call the API; pending/suspended get 403
    Column("status", String(20), nullable=False, default="approved"),
    # cached balance, kept equal to SUM(ledger.delta) in the same transaction as each ledger row
    Column("balance", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("title", String(200), nullable=False, default=""),
    # only this short prefix is kept in clear, for previews; the key itself is stored as a SHA-256 digest
    Column("prefix", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("mode", String(10), nullable=False),  # test | live
    Column("state", String(10), nullable=False),  # created | active | revoked
    Column("rate_limit_rpm", Integer, nullable=True),
    Column("max_concurrent_tasks", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("prefix", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("delta", BigInteger, nullable=False),
    Column("kind", String(10), nullable=False),  # grant | debit | refund
    Column("task_id", String(40), nullable=True),
    Column("note", String(300), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    # a task is debited once and refunded at most once: the database enforces it
    UniqueConstraint("task_id", "kind", name="uq_ledger_task_kind"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("api_key_id", String(40), ForeignKey("api_keys.id"), nullable=False),
    Column("model", String(60), nullable=False),
    Column("mode", String(10), nullable=False),  # test | live
    Column("status", String(20), nullable=False),  # pending | processing | completed | failed
    Column("params", JSON, nullable=False),
    Column("callback_url", Text, nullable=True),
    Column("request_id", String(40), nullable=False),
    Column("provider", String(40), nullable=True),
    Column("upstream_job_id", String(200), nullable=True),
    Column("step", String(40), nullable=False, default="start"),
    Column("state", JSON, nullable=False, default=dict),  # pipeline scratch state, saved per step
    Column("progress", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("credits_used", Integer, nullable=False),
    Column("credits_refunded", Integer, nullable=False, default=0),
    Column("result_keys", JSON, nullable=False, default=list),
    Column("result_info", JSON, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("lease_owner", String(60), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("run_after", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    # set by the retention sweep once the task's result files are deleted (revision 0002)
    Column("results_expired_at", UTCDateTime, nullable=True),
    Index("ix_tasks_account_created", "account_id", "created_at"),
    Index("ix_tasks_status_lease", "status", "lease_expires_at"),
    Index("ix_tasks_key_status", "api_key_id", "status"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", String(40), ForeignKey("api_keys.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("task_id", String(40), nullable=True),
    Column("response_status", Integer, nullable=False),
    Column("response_body", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# --- webhooks (revision 0002) ---

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("secret", String(200), nullable=False),  # whsec_<base64>: needed in clear to sign
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),  # set when rotated out; null = current
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("api_key_id", String(40), nullable=True),  # only tasks of this key; null = every task
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret_key", String(200), nullable=True),  # own signing secret; null = the account's
    Column("total_sent", Integer, nullable=False, default=0),
    Column("total_failed", Integer, nullable=False, default=0),
    Column("last_sent_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("disabled_at", UTCDateTime, nullable=True),  # a 410 Gone disables the endpoint
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
)

# the outbox: one row per (event, destination), written in the transaction that changes the task's status
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),  # the webhook-id header: stable across retries
    Column("account_id", String(40), nullable=False),
    Column("task_id", String(40), nullable=False, index=True),
    Column("endpoint_id", String(40), nullable=True),  # null = the task's callBackUrl
    Column("url", Text, nullable=False),
    Column("event", String(40), nullable=False),
    Column("status", String(20), nullable=False),  # pending | delivering | delivered | failed | gone
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("lease_owner", String(60), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("outcome", String(20), nullable=False),  # delivered | failed | gone
    Column("error", Text, nullable=True),
)

__all__ = [
    "accounts",
    "admin_tokens",
    "api_keys",
    "idempotency_keys",
    "ledger",
    "metadata",
    "server_secrets",
    "tasks",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "webhook_secrets",
]
