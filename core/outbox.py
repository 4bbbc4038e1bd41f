"""Delivering the outbox: ``arrears outbox send`` and ``arrears outbox retry``.

Exactly once, as far as a sender can promise it (SEMANTICS.md §5):

- A message is *claimed* just before it is handed to the channel's plugin:
  in its own committed write transaction it goes from ``queued`` to
  ``uncertain`` (``attempts`` + 1, its Message-ID fixed). The update only
  matches a queued message whose row no other transaction holds (``SKIP
  LOCKED`` on PostgreSQL), so of two senders at once only one claims it, and
  neither waits for the other.
- Right after the attempt the plugin reports the outcome, committed at once:
  ``sent``; ``retry`` (back to ``queued``, the error kept); ``failed`` (for
  good, the server's reply kept); ``uncertain``.
- A sender killed between the two leaves the message ``uncertain``: the
  receiver may have it. Nothing re-sends it until a person says so with
  ``arrears outbox retry ID``.

The Message-ID is ``<arrears.{outbox id}.{database id}@{sender's domain}>``,
the same on every attempt, so a receiving system can recognise a repeat.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from email.utils import parseaddr
from typing import Any

import attrs
import pluggy
from sqlalchemy import func, select

from arrears.core import clock, plugins, schema
from arrears.core.db import Database, ensure_database_id
from arrears.core.domain import Delivery, Message
from arrears.core.errors import BadInput

outbox = schema.outbox
customers = schema.customer
meta = schema.meta

DELIVERY_STATUSES = ("sent", "retry", "failed", "uncertain")
RETRYABLE = ("failed", "uncertain")
DETAIL_LIMIT = 2000
FALLBACK_DOMAIN = "arrears.invalid"


@attrs.frozen
class Attempt:
    """One message the sender tried: ``status`` is where it now stands."""

    id: int
    to: str
    status: str  # sent | failed | queued | uncertain
    detail: str


@attrs.define
class SendSummary:
    """What ``outbox send`` did (its ``--format json``).

    *queued* counts messages tried and put back in the queue (a temporary
    refusal); *not_attempted* the queued messages left untouched (the server
    was out of reach, or another sender took them); *no_sender* the queued
    messages of each channel no plugin delivers; *refused* why the sender of a
    channel stopped (a setting missing or refused: ``BadInput``), by channel;
    *errors* why a channel's sender broke down (its plugin raised), by channel;
    *uncertain_earlier* the messages left uncertain by earlier sends, which wait
    for a person to check them.
    """

    sent: int = 0
    failed: int = 0
    queued: int = 0
    uncertain: int = 0
    not_attempted: int = 0
    messages: list[Attempt] = attrs.Factory(list)
    no_sender: dict[str, int] = attrs.Factory(dict)
    refused: dict[str, str] = attrs.Factory(dict)
    errors: dict[str, str] = attrs.Factory(dict)
    uncertain_earlier: int = 0

    def add(self, attempt: Attempt) -> None:
        self.messages.append(attempt)
        setattr(self, attempt.status, getattr(self, attempt.status) + 1)


def message_id(outbox_id: int, database_id: str, sender: str | None) -> str:
    """The stable Message-ID of outbox message *outbox_id* (RFC 5322 ``msg-id``)."""
    domain = parseaddr(sender or "")[1].rpartition("@")[2].strip().strip("[]").lower()
    try:
        domain = domain.encode("idna").decode("ascii") if domain else ""
    except UnicodeError:
        domain = ""
    if not domain or not all(c.isalnum() or c in "-." for c in domain):
        domain = FALLBACK_DOMAIN
    return f"<arrears.{outbox_id}.{database_id}@{domain}>"


def _database_id(db: Database) -> str:
    with db.read() as connection:
        found = connection.execute(
            select(meta.c.value).where(meta.c.key == "database_id")).scalar()
    if found is not None:
        return str(found)
    with db.begin() as connection:  # a database made before ids existed
        return ensure_database_id(connection)


def send(db: Database, pm: pluggy.PluginManager, settings: Mapping[str, str], *,
         limit: int | None = None) -> SendSummary:
    """Deliver the queued messages, oldest first, through ``deliver_messages``.

    The queued messages are read in one query; each channel's are handed to
    the first plugin that delivers that channel, claimed one by one as the
    plugin takes them. *settings* are passed on (``smtp``: the ``--smtp``
    URL). With *limit*, at most that many messages are tried. A sender that
    raises stops its own channel only: BadInput (a setting missing or refused)
    goes to *refused*, any other error (a plugin's bug) to *errors*; the messages
    it did not take stay queued, and the other channels are delivered. A
    database error stops the send.
    """
    query = (select(outbox.c.id, outbox.c.channel, outbox.c.sender, outbox.c.recipient,
                    customers.c.account)
             .join(customers, customers.c.id == outbox.c.customer_id)
             .where(outbox.c.status == "queued").order_by(outbox.c.id))
    if limit is not None:
        query = query.limit(limit)
    with db.read() as connection:
        rows = connection.execute(query).all()
        earlier = connection.execute(select(func.count()).select_from(outbox)
                                     .where(outbox.c.status == "uncertain")).scalar_one()
    summary = SendSummary(uncertain_earlier=earlier)
    if not rows:  # nothing to send: still refuse settings that could never work
        problems = [problem for answer in pm.hook.check_delivery_settings(settings=settings)
                    for problem in answer or ()]
        if problems:
            raise BadInput(problems)
        return summary
    database_id = _database_id(db)
    by_channel: dict[str, list[Any]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    for channel, queued in by_channel.items():
        claimed: dict[int, Message] = {}  # handed out, not yet reported
        handed_out = [0]

        def claim_each(queued: list[Any] = queued, claimed: dict[int, Message] = claimed,
                       handed_out: list[int] = handed_out) -> Iterator[Message]:
            for row in queued:
                message = _claim(db, row, database_id)
                if message is not None:  # None: another sender took it
                    claimed[message.id] = message
                    handed_out[0] += 1
                    yield message

        def report(message: Message, delivery: Delivery,
                   claimed: dict[int, Message] = claimed) -> None:
            if claimed.pop(message.id, None) is None:
                raise ValueError(f"outbox message {message.id} was not handed out by this "
                                 "sender, or was reported already")
            summary.add(_record(db, message, delivery))

        answered: bool | None = True
        try:
            answered = pm.hook.deliver_messages(channel=channel, messages=claim_each(),
                                                report=report, settings=settings)
        except BadInput as error:  # this channel's settings: the other channels still go
            summary.refused[channel] = str(error)
        except Exception as error:
            summary.errors[channel] = plugins.failure(pm, error)
        finally:
            for message in claimed.values():  # claimed, never reported: we cannot know
                summary.add(Attempt(message.id, message.recipient, "uncertain",
                                    "handed to the sender, no outcome was reported"))
        if answered is None and not handed_out[0]:
            summary.no_sender[channel] = len(queued)
        else:
            summary.not_attempted += len(queued) - handed_out[0]
    return summary


def _claim(db: Database, row: Any, database_id: str) -> Message | None:
    """Mark a queued message as being sent, in its own transaction; None if it is no
    longer queued, or another sender is claiming it this very moment.

    The row is locked ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite has no row
    locks and runs one write transaction at a time): a sender never waits for
    another's claim, it passes the message by.
    """
    stable = message_id(row.id, database_id, row.sender)
    claimable = outbox.alias("claimable")
    free = (select(claimable.c.id)
            .where(claimable.c.id == row.id, claimable.c.status == "queued")
            .with_for_update(skip_locked=True).scalar_subquery())
    with db.begin() as connection:
        claimed = connection.execute(
            outbox.update()
            .where(outbox.c.id == free, outbox.c.status == "queued")
            .values(status="uncertain", attempts=outbox.c.attempts + 1,
                    message_id=func.coalesce(outbox.c.message_id, stable),
                    last_error=f"handed to the sender at "
                               f"{clock.utcnow().isoformat(' ', 'seconds')} UTC; "
                               "no outcome was recorded")
            .returning(outbox.c.recipient, outbox.c.sender, outbox.c.subject,
                       outbox.c.body_html, outbox.c.body_text, outbox.c.language,
                       outbox.c.message_id, outbox.c.attempts)).first()
    if claimed is None:
        return None
    return Message(
        id=row.id, customer=row.account, channel=row.channel, recipient=claimed.recipient,
        sender=claimed.sender, subject=claimed.subject, body_html=claimed.body_html,
        body_text=claimed.body_text, language=claimed.language,
        message_id=claimed.message_id, attempts=claimed.attempts)


def _record(db: Database, message: Message, delivery: Delivery) -> Attempt:
    """Commit the outcome of one attempt at once."""
    if delivery.status not in DELIVERY_STATUSES:
        raise ValueError(f"delivery status {delivery.status!r} is not one of "
                         f"{', '.join(DELIVERY_STATUSES)}")
    detail = delivery.detail[:DETAIL_LIMIT]
    values: dict[str, Any] = {
        "sent": {"status": "sent", "sent": clock.utcnow(), "last_error": None},
        "retry": {"status": "queued", "last_error": detail or "to be tried again"},
        "failed": {"status": "failed", "last_error": detail or "refused"},
        "uncertain": {"status": "uncertain",
                      "last_error": detail or "the outcome of the attempt is unknown"},
    }[delivery.status]
    with db.begin() as connection:
        connection.execute(outbox.update().where(outbox.c.id == message.id,
                                                 outbox.c.status == "uncertain")
                           .values(**values))
    status = "queued" if delivery.status == "retry" else delivery.status
    return Attempt(message.id, message.recipient, status, detail)


@attrs.frozen
class Retried:
    """``outbox retry``: the message, the status it had, and its new one (``queued``)."""

    id: int
    to: str
    previous: str
    status: str
    attempts: int
    last_error: str | None


def retry(db: Database, outbox_id: int) -> Retried:
    """Put a failed or uncertain message back in the queue (its Message-ID stays)."""
    with db.begin() as connection:
        row = connection.execute(
            select(outbox.c.status, outbox.c.recipient, outbox.c.attempts, outbox.c.last_error)
            .where(outbox.c.id == outbox_id)).first()
        if row is None:
            raise BadInput(f"ID: no outbox message {outbox_id}")
        if row.status not in RETRYABLE:
            raise BadInput(f"ID: outbox message {outbox_id} is {row.status}; only a failed or "
                           "uncertain message can be retried")
        connection.execute(outbox.update().where(outbox.c.id == outbox_id,
                                                 outbox.c.status == row.status)
                           .values(status="queued"))
    return Retried(outbox_id, row.recipient, row.status, "queued", row.attempts,
                   row.last_error)
