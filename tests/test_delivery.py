"""``arrears outbox send`` and ``outbox retry`` (spec/CLI.md, SEMANTICS.md §5), against
real SMTP servers (aiosmtpd) on loopback: plain, STARTTLS and implicit TLS with a
throwaway certificate authority (trustme), with a login, and servers that refuse,
stall or drop the connection. Received messages are parsed with ``email``."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import tomli_w
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import create_engine, select, text

from arrears.core import hookimpl
from arrears.core.domain import Delivery, Message
from arrears.core.errors import BadInput
from arrears.core.schema import metadata
from arrears.core.testing import backends
from arrears.plugins.smtp import SmtpConfig, parse_url

# aiosmtpd cannot tell that a server started with ssl_context= (implicit TLS) is
# encrypted, and warns about AUTH without TLS.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning")

# A password found nowhere else, with characters that must be percent-encoded.
PASSWORD = "pw-7Hq2vX9!zK#4/e:@Lm%"
USER = "ar-robot@example.com"
SWEDISH_SENDER = "Kundreskontra Åsa"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the SMTP server ----------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses or misbehaves on demand.

    *refuse* maps a recipient to the reply to its RCPT TO; *drop_at_data* closes
    the connection once the content has arrived, before replying; *delay*
    stalls each DATA reply; *hold*, when set, makes DATA wait until it is
    released (and sets *arrived*).
    """

    def __init__(self, *, refuse: dict[str, str] | None = None, drop_at_data: bool = False,
                 delay: float = 0.0, hold: bool = False):
        self.refuse = refuse or {}
        self.drop_at_data = drop_at_data
        self.delay = delay
        self.hold = threading.Event() if hold else None
        self.arrived = threading.Event()
        self.received: list[tuple[str, list[str], bytes, Any]] = []
        self.logins: list[tuple[str, bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content, session.peer))
        self.arrived.set()
        if self.hold is not None:
            while not self.hold.is_set():
                await asyncio.sleep(0.02)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.drop_at_data:
            server.transport.close()
        return "250 2.0.0 queued"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == (USER, PASSWORD.encode()), handled=False)

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=email.policy.default)
                for _, _, raw, _ in self.received]

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages()]


class Server:
    def __init__(self, inbox: Inbox, port: int, scheme: str = "smtp"):
        self.inbox, self.port, self.scheme = inbox, port, scheme

    def url(self, *, login: bool = False, password: str = PASSWORD, **query: Any) -> str:
        auth = f"{quote(USER, safe='')}:{quote(password, safe='')}@" if login else ""
        options = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}" + (f"?{options}" if options else "")


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Server]]:
    """``smtp_server(inbox, **aiosmtpd options)`` starts a server on a free loopback port."""
    controllers: list[Controller] = []

    def start(inbox: Inbox | None = None, *, scheme: str = "smtp", login: bool = False,
              **options: Any) -> Server:
        inbox = inbox or Inbox()
        if login:
            options.update(authenticator=inbox.authenticate, auth_required=True)
            if "tls_context" not in options:  # plain, or TLS from the start
                options["auth_require_tls"] = False
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return Server(inbox, port, scheme)

    yield start
    for controller in controllers:
        if controller.handler.hold is not None:
            controller.handler.hold.set()
        controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls(ca: trustme.CA, tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """The server's TLS context (a certificate for 127.0.0.1) and the CA file to trust."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return context, cafile


# --- the book: three queued emails, one in Swedish ---------------------------------------

EXTRA = {
    "customers": "account,name,currency,customer_group,country,language\n"
                 "S1,Åkerlund & Söner AB,SEK,RETAIL,SE,sv\n",
    "contacts": "customer,email,purpose,name\nS1,ekonomi@akerlund.example,billing,Åsa\n",
    "invoices": "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-S1,S1,2025-01-01,2025-01-15,5000.00,SEK\n",
}
SV_TEXT = "Hej {{ customer.name }}! Faktura {{ invoice.number }} förfaller snart."
RECIPIENTS = ["billing@keycorp.example", "owner@smallshop.example", "ekonomi@akerlund.example"]


@pytest.fixture
def book(arrears_cli: Any, tmp_path: Path, data: Path) -> Any:
    """tests/data plus S1 (Swedish): a run on 2025-01-10 queues three pre-dunning emails."""
    for kind in ("customers", "contacts", "invoices", "rates"):
        arrears_cli("import", kind, data / f"{kind}.csv").assert_success()
    for kind, rows in EXTRA.items():
        path = tmp_path / f"extra-{kind}.csv"
        path.write_text(rows, encoding="utf-8")
        arrears_cli("import", kind, path).assert_success()
    document = tomllib.loads((data / "setup.toml").read_text())
    template = document["email_template"][0]
    template["sender_name"] = SWEDISH_SENDER
    template["body"]["en"]["html"] = str(data / "reminder_en.html")
    template["body"]["sv"]["text"] = SV_TEXT
    setup = tmp_path / "setup.toml"
    setup.write_text(tomli_w.dumps(document))
    arrears_cli("setup", "load", setup).assert_success()
    actions = arrears_cli("run", "--as-of", "2025-01-10", "--format", "json"
                          ).assert_success().json()["actions"]
    assert sorted(a["recipient"] for a in actions) == sorted(RECIPIENTS)
    return arrears_cli


def messages(cli: Any, *status: str) -> list[dict[str, Any]]:
    """``outbox [--status S] --format json``."""
    args = ["--status", status[0]] if status else []
    return cli("outbox", *args, "--format", "json").assert_success().json()["messages"]


def outbox(cli: Any, *status: str) -> dict[str, dict[str, Any]]:
    """The outbox by recipient (one message each in the book)."""
    return {m["to"]: m for m in messages(cli, *status)}


def send(cli: Any, url: str | None, *args: str, code: int = 0,
         env: dict[str, str] | None = None) -> Any:
    smtp = ["--smtp", url] if url else []
    return cli("outbox", "send", *smtp, *args, "--format", "json", env=env).assert_exit(code)


def by_recipient(inbox: Inbox) -> dict[str, EmailMessage]:
    return {m["To"].addresses[0].addr_spec: m for m in inbox.messages()}


# --- delivery and the messages' form --------------------------------------------------------


def test_plain_smtp_delivers_real_mime_once(book, smtp_server, arrears_db_url):
    server = smtp_server()
    before = datetime.now(UTC) - timedelta(seconds=5)
    result = send(book, server.url()).json()
    assert {k: result[k] for k in ("sent", "failed", "queued", "uncertain")} == {
        "sent": 3, "failed": 0, "queued": 0, "uncertain": 0}
    assert sorted(m["to"] for m in result["messages"]) == sorted(RECIPIENTS)
    assert {m["status"] for m in result["messages"]} == {"sent"}

    listed = outbox(book)
    assert {m["status"] for m in listed.values()} == {"sent"}
    for entry in listed.values():  # a recent UTC time
        sent = datetime.fromisoformat(entry["sent"])
        assert abs(sent - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5)
    [(database_id,)] = query(arrears_db_url, "SELECT value FROM meta WHERE key='database_id'")
    received = by_recipient(server.inbox)
    assert sorted(received) == sorted(RECIPIENTS)
    for address, message in received.items():
        entry = listed[address]
        assert message["Message-ID"] == entry["message_id"] == \
            f"<arrears.{entry['id']}.{database_id}@example.com>"
        assert message["From"].addresses[0].display_name == SWEDISH_SENDER
        assert message["From"].addresses[0].addr_spec == "ar@example.com"
        assert message["To"].addresses[0].addr_spec == address
        assert message["Subject"] == entry["subject"]
        assert parsedate_to_datetime(message["Date"]) >= before
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == [
            "text/plain", "text/html"]
    for mail_from, rcpt_tos, raw, _ in server.inbox.received:
        assert mail_from == "ar@example.com" and len(rcpt_tos) == 1
        raw.decode("ascii")  # every header and part encoded for transport
        assert b"From: Kundreskontra =?utf-8?q?=C3=85sa?= <ar@example.com>" in raw  # RFC 2047

    english, swedish = received["billing@keycorp.example"], received["ekonomi@akerlund.example"]
    assert english["Content-Language"] == "en"
    assert english.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == \
        "Dear Key Corp,\n\ninvoice INV-2 of 800.00 USD is due on 2025-01-15."  # from the HTML
    assert "<p>Dear Key Corp,</p>" in english.get_body(("html",)).get_content()
    assert swedish["Content-Language"] == "sv"
    assert swedish["Subject"] == "Faktura INV-S1 förfaller 2025-01-15"
    assert swedish.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == \
        "Hej Åkerlund & Söner AB! Faktura INV-S1 förfaller snart."  # the template's own text
    assert "Hej Åkerlund &amp; Söner AB, faktura INV-S1 förfaller snart." in \
        swedish.get_body(("html",)).get_content()

    again = send(book, server.url())
    assert again.json()["messages"] == [] and "no queued messages" in again.stderr
    assert len(server.inbox.received) == 3


def test_a_url_that_could_never_work_fails_a_send_with_nothing_to_send(arrears_cli):
    """A scheduled send is told on a quiet day that its setting is wrong, not on the
    day mail is waiting; no setting at all is fine while nothing is queued."""
    nothing = send(arrears_cli, None)
    assert nothing.json()["messages"] == [] and "no queued messages" in nothing.stderr
    wrong = send(arrears_cli, f"smtpx://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}"
                              "@127.0.0.1:25", code=2)
    assert "Error: channel 'email': --smtp: the scheme must be smtp or smtps" in wrong.stderr
    from_env = send(arrears_cli, None, code=2,
                    env={"ARREARS_SMTP_URL": "smtp://127.0.0.1:25?timeout=soon"})
    assert "$ARREARS_SMTP_URL: timeout= must be a number of seconds" in from_env.stderr
    shown = wrong.stdout + wrong.stderr + from_env.stdout + from_env.stderr
    assert PASSWORD not in shown and quote(PASSWORD, safe="") not in shown


def test_show_gives_a_message_as_its_recipient_reads_it(book, smtp_server):
    listed = outbox(book)
    english = book("outbox", "show", str(listed["billing@keycorp.example"]["id"]),
                   "--format", "json").assert_success().json()
    assert english["body_text"] == \
        "Dear Key Corp,\n\ninvoice INV-2 of 800.00 USD is due on 2025-01-15."  # from the HTML
    assert "<p>Dear Key Corp,</p>" in english["body_html"]
    assert {k: english[k] for k in ("to", "status", "step", "invoice", "language")} == {
        "to": "billing@keycorp.example", "status": "queued", "step": "Pre-dunning",
        "invoice": "INV-2", "language": "en"}
    swedish = book("outbox", "show", str(listed["ekonomi@akerlund.example"]["id"])
                   ).assert_success().stdout
    assert swedish.endswith("\n\nHej Åkerlund & Söner AB! Faktura INV-S1 förfaller snart.\n")
    assert "subject: Faktura INV-S1 förfaller 2025-01-15\n" in swedish
    assert "to ekonomi@akerlund.example: queued, sent not yet" in swedish
    send(book, smtp_server().url())
    assert "sent 20" in book("outbox", "show", str(listed["ekonomi@akerlund.example"]["id"])
                             ).assert_success().stdout
    assert "no outbox message 999" in book("outbox", "show", "999").assert_exit(2).stderr


def test_text_written_as_encoded_words_never_becomes_a_header(book, smtp_server, tmp_path):
    # An invoice number and a contact's name that the email package would decode into
    # line breaks, and so into headers of their own, were they given to it as they are.
    evil = "=?utf-8?q?7=0D=0AReply-To=3A_pay=40evil.example=0D=0AX-Injected=3A_1?="
    for kind, rows in {
        "customers": "account,name,currency\nX1,Evil,USD\n",
        "contacts": "customer,email,purpose,name\n"
                    "X1,ap@x1.example,billing,=?utf-8?q?A=0D=0ABcc=3A_b=40evil.example?=\n",
        "invoices": f"number,customer,invoice_date,due_date,amount,currency\n"
                    f"{evil},X1,2025-01-01,2025-01-16,900.00,USD\n",
    }.items():
        (tmp_path / f"evil-{kind}.csv").write_text(rows)
        book("import", kind, tmp_path / f"evil-{kind}.csv").assert_success()
    book("run", "--as-of", "2025-01-11").assert_success()
    server = smtp_server()
    assert send(book, server.url()).json()["sent"] == 4
    [(_, _, raw, _)] = [r for r in server.inbox.received if r[1] == ["ap@x1.example"]]
    headers = raw.split(b"\r\n\r\n")[0]
    assert sorted(BytesHeaderParser().parsebytes(headers).keys()) == [
        "Content-Language", "Content-Type", "Date", "From", "MIME-Version", "Message-ID",
        "Subject", "To"]
    received = message_from_bytes(raw, policy=email.policy.default)
    assert str(received["Subject"]) == f"Invoice {evil} is due on 2025-01-16"
    assert str(received["To"]) == "ap@x1.example"


@pytest.mark.parametrize("name", ["=?utf-8?q?A=0D=0ABcc=3A_b=40evil.example?=",
                                  "=?utf-8?q?=3D=3Futf-8=3Fq=3FA=3D0D=3D0ABcc=3D3A_b?=?="])
def test_a_sender_name_of_encoded_words_stays_in_its_header(name):
    from email.utils import formataddr

    from arrears.plugins.smtp import build_message

    mime = build_message(Message(
        id=1, customer="C1", channel="email", recipient="ap@c1.example",
        sender=formataddr((name, "ar@example.com")), subject="Hello", body_html="",
        body_text="text", language="en", message_id="<1@example.com>", attempts=1))
    raw = bytes(mime)
    assert sorted(BytesHeaderParser().parsebytes(raw).keys()) == [
        "Content-Language", "Content-Transfer-Encoding", "Content-Type", "Date", "From",
        "MIME-Version", "Message-ID", "Subject", "To"]
    sender = message_from_bytes(raw, policy=email.policy.default)["From"].addresses[0]
    assert sender.addr_spec == "ar@example.com" and "\n" not in sender.display_name


def test_the_url_can_come_from_the_environment_and_is_required(book, smtp_server):
    missing = send(book, None, code=2, env={"ARREARS_SMTP_URL": ""})
    assert "--smtp" in missing.stderr and "$ARREARS_SMTP_URL" in missing.stderr
    assert missing.stdout == ""
    assert {m["status"] for m in outbox(book).values()} == {"queued"}
    assert {m["attempts"] for m in outbox(book).values()} == {0}
    server = smtp_server()
    send(book, None, env={"ARREARS_SMTP_URL": server.url()})
    assert len(server.inbox.received) == 3


def test_a_limit_and_a_new_connection_every_n_messages(book, smtp_server):
    server = smtp_server()
    first = send(book, server.url(per_connection=1), "--limit", "2").json()
    assert first["sent"] == 2 and len(server.inbox.received) == 2
    send(book, server.url(per_connection=1))
    peers = [peer for _, _, _, peer in server.inbox.received]
    assert len(peers) == 3 and len(set(peers)) == 3  # one connection per message
    assert {m["status"] for m in outbox(book).values()} == {"sent"}


def test_default_connection_carries_several_messages(book, smtp_server):
    server = smtp_server()
    send(book, server.url())
    assert len({peer for _, _, _, peer in server.inbox.received}) == 1


# --- TLS and login; the password is shown nowhere --------------------------------------


def stored_text(db_url: str) -> list[str]:
    """Everything the database holds, as text: every row of every table, and on SQLite
    the bytes of its files (the write-ahead log too)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            rows = [repr(tuple(row)) for table in metadata.sorted_tables
                    for row in connection.execute(select(table))]
    finally:
        engine.dispose()
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        rows += [p.read_bytes().decode("latin-1") for p in path.parent.glob(f"{path.name}*")]
    return rows


def secrets_absent(texts: list[str], db_url: str, caplog: Any) -> None:
    """PASSWORD, in any form, is in none of *texts*, the database or our logs."""
    forms = {PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)}
    files = stored_text(db_url)
    # aiosmtpd's own logger ("mail.log") is the test server's, not arrears'.
    logs = [record.getMessage() for record in caplog.records
            if not record.name.startswith("mail.log")]
    for form in forms:
        for index, text_ in enumerate(texts + files + logs):
            assert form not in text_, f"the password leaked into text {index}: {text_[:300]}"


def test_starttls_with_login(book, smtp_server, tls, arrears_db_url, caplog):
    caplog.set_level(logging.DEBUG)
    context, cafile = tls
    server = smtp_server(tls_context=context, require_starttls=True, login=True)
    outputs: list[str] = []

    def record(result: Any) -> Any:
        outputs.extend([result.stdout, result.stderr])
        return result

    # Without starttls=1 the server offers no login: the URL is wrong, exit 2, nothing lost.
    wrong = record(send(book, server.url(login=True, cafile=cafile), code=2))
    assert "SMTP login failed for user ar-robot@example.com at 127.0.0.1:" in wrong.stderr
    # A wrong password: exit 2, the message in hand back in the queue, the others untouched.
    refused = record(send(book, server.url(login=True, password="not-it", starttls=1,
                                           cafile=cafile), code=2))
    assert f"SMTP login failed for user {USER} at 127.0.0.1:{server.port}: 535" in \
        refused.stderr
    listed = outbox(book)
    assert {m["status"] for m in listed.values()} == {"queued"}
    assert sorted(m["attempts"] for m in listed.values()) == [0, 0, 2]
    assert server.inbox.received == []

    done = record(send(book, server.url(login=True, starttls=1, cafile=cafile)))
    assert done.json()["sent"] == 3 and len(server.inbox.received) == 3
    assert (USER, PASSWORD.encode()) in server.inbox.logins
    for args in (["outbox", "--format", "json"], ["outbox"], ["history", "--format", "json"],
                 ["outbox", "--status", "sent"]):
        record(book(*args).assert_success())
    secrets_absent(outputs, arrears_db_url, caplog)


def test_implicit_tls_with_login_and_the_certificate_verified(book, smtp_server, tls,
                                                              arrears_db_url, caplog):
    caplog.set_level(logging.DEBUG)
    context, cafile = tls
    server = smtp_server(scheme="smtps", ssl_context=context, login=True)
    # Not trusting the throwaway CA: verification fails, nothing is sent, all stay queued.
    untrusted = send(book, server.url(login=True), code=1)
    assert untrusted.json()["queued"] == 1 and untrusted.json()["not_attempted"] == 2
    [attempt] = untrusted.json()["messages"]
    assert "CERTIFICATE_VERIFY_FAILED" in attempt["detail"]
    assert attempt["detail"].startswith(
        f"cannot connect to smtps://ar-robot%40example.com:***@127.0.0.1:{server.port}")
    trusted = send(book, server.url(login=True, cafile=cafile))
    assert trusted.json()["sent"] == 3
    assert len(set(server.inbox.message_ids())) == 3
    secrets_absent([untrusted.stdout, untrusted.stderr, trusted.stdout, trusted.stderr,
                    book("outbox", "--format", "json").stdout], arrears_db_url, caplog)


# --- refusals, lost connections, an absent server -------------------------------------------


def test_a_permanent_refusal_fails_that_message_and_the_run_goes_on(book, smtp_server):
    server = smtp_server(Inbox(refuse={"owner@smallshop.example": "550 5.1.1 No such user"}))
    result = send(book, server.url(), code=1).json()
    assert (result["sent"], result["failed"]) == (2, 1)
    listed = outbox(book)
    refused = listed["owner@smallshop.example"]
    assert refused["status"] == "failed" and refused["sent"] is None
    assert refused["last_error"] == "RCPT TO: 550 5.1.1 No such user"
    assert [m["detail"] for m in result["messages"] if m["status"] == "failed"] == [
        "RCPT TO: 550 5.1.1 No such user"]
    assert sorted(by_recipient(server.inbox)) == [
        "billing@keycorp.example", "ekonomi@akerlund.example"]
    assert list(outbox(book, "failed")) == ["owner@smallshop.example"]
    send(book, server.url())  # a failed message is not tried again by itself
    assert len(server.inbox.received) == 2


def test_a_temporary_refusal_leaves_it_queued_with_the_error_and_a_count(book, smtp_server):
    server = smtp_server(Inbox(refuse={"owner@smallshop.example": "451 4.3.0 Try later"}))
    result = send(book, server.url(), code=1).json()  # left to retry: exit 1 for cron
    assert (result["sent"], result["queued"]) == (2, 1)
    waiting = outbox(book)["owner@smallshop.example"]
    assert (waiting["status"], waiting["attempts"]) == ("queued", 1)
    assert waiting["last_error"] == "RCPT TO: 451 4.3.0 Try later"
    send(book, server.url(), code=1)
    assert outbox(book)["owner@smallshop.example"]["attempts"] == 2
    server.inbox.refuse.clear()
    send(book, server.url())
    delivered = outbox(book)["owner@smallshop.example"]
    assert (delivered["status"], delivered["attempts"]) == ("sent", 3)
    assert delivered["last_error"] is None
    assert sorted(by_recipient(server.inbox)) == sorted(RECIPIENTS)


def test_a_connection_lost_during_data_is_uncertain_until_a_person_retries(book, smtp_server):
    dropping = smtp_server(Inbox(drop_at_data=True))
    result = send(book, dropping.url(), "--limit", "1", code=1)
    assert result.json()["uncertain"] == 1
    assert "outbox retry ID" in result.stderr
    [uncertain] = outbox(book, "uncertain").values()
    assert uncertain["attempts"] == 1 and "may have been delivered" in uncertain["last_error"]
    [first_copy] = dropping.inbox.messages()

    good = smtp_server()
    send(book, good.url())  # the others go; the uncertain one is never re-sent by itself
    assert sorted(by_recipient(good.inbox)) == sorted(set(RECIPIENTS) - {uncertain["to"]})
    assert list(outbox(book, "uncertain")) == [uncertain["to"]]

    for wrong, status in (("999", "no outbox message 999"), ("x", "")):
        assert status in book("outbox", "retry", wrong).assert_exit(2).stderr
    sent_id = str(next(iter(outbox(book, "sent").values()))["id"])
    assert f"outbox message {sent_id} is sent" in book("outbox", "retry", sent_id
                                                         ).assert_exit(2).stderr
    retried = book("outbox", "retry", str(uncertain["id"]), "--format", "json")
    assert retried.assert_success().json()["previous"] == "uncertain"
    assert f"{uncertain['id']} to {uncertain['to']}: uncertain -> queued" in retried.stderr
    assert "is queued" in book("outbox", "retry", str(uncertain["id"])).assert_exit(2).stderr
    send(book, good.url())
    [second_copy] = [m for m in good.inbox.messages() if m["To"] == uncertain["to"]]
    assert second_copy["Message-ID"] == first_copy["Message-ID"] == uncertain["message_id"]
    assert outbox(book)[uncertain["to"]]["status"] == "sent"
    assert outbox(book)[uncertain["to"]]["attempts"] == 2


def test_a_timeout_after_the_data_is_uncertain(book, smtp_server):
    server = smtp_server(Inbox(delay=3))
    result = send(book, server.url(timeout="0.5"), "--limit", "1", code=1).json()
    assert result["uncertain"] == 1
    assert "timed out" in result["messages"][0]["detail"]


def test_a_refused_data_command_or_content(book, smtp_server):
    class Refusing(Inbox):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "554 5.7.1 Message rejected as spam"

    server = smtp_server(Refusing())
    result = send(book, server.url(), "--limit", "1", code=1).json()
    assert result["messages"][0]["detail"] == \
        "end of DATA: 554 5.7.1 Message rejected as spam"


def test_a_connection_lost_before_the_data_is_renewed_and_nothing_is_lost(book, smtp_server):
    class DropsSecondMail(Inbox):
        """Closes each connection at its second MAIL FROM, as servers drop idle ones."""

        mails: Counter[Any] = Counter()

        async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                              mail_options: list[str]) -> str:
            self.mails[session.peer] += 1
            if self.mails[session.peer] > 1:
                server.transport.close()
            envelope.mail_from = address
            return "250 OK"

    server = smtp_server(DropsSecondMail())
    result = send(book, server.url()).json()
    assert result["sent"] == 3
    assert sorted(by_recipient(server.inbox)) == sorted(RECIPIENTS)
    assert len({peer for _, _, _, peer in server.inbox.received}) == 3
    assert [m["attempts"] for m in outbox(book).values()] == [1, 1, 1]


def test_a_server_that_is_not_listening_leaves_everything_queued(book):
    port = free_port()
    result = send(book, f"smtp://127.0.0.1:{port}?timeout=5", code=1)
    summary = result.json()
    assert (summary["sent"], summary["queued"], summary["not_attempted"]) == (0, 1, 2)
    assert summary["messages"][0]["detail"].startswith(f"cannot connect to smtp://127.0.0.1:{port}")
    listed = outbox(book)
    assert {m["status"] for m in listed.values()} == {"queued"}
    assert sorted(m["attempts"] for m in listed.values()) == [0, 0, 1]
    assert "left queued to retry" in result.stderr and "2 not attempted" in result.stderr


# --- exactly once: a killed sender, two senders at once ---------------------------------------


def arrears_process(db_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "arrears.core", "--db", db_url, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ARREARS_SMTP_URL": ""})


def test_a_sender_killed_while_handing_over_leaves_the_message_uncertain(book, smtp_server,
                                                                         arrears_db_url):
    stalled = smtp_server(Inbox(hold=True))
    process = arrears_process(arrears_db_url, "outbox", "send", "--smtp", stalled.url())
    try:
        assert stalled.inbox.arrived.wait(30), "the sender never reached DATA"
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    listed = outbox(book)
    [(address, uncertain)] = [(a, m) for a, m in listed.items() if m["status"] == "uncertain"]
    assert "no outcome was recorded" in uncertain["last_error"]
    assert sorted(m["status"] for m in listed.values()) == ["queued", "queued", "uncertain"]

    good = smtp_server()
    later = send(book, good.url())  # all went well, but a person has one to check still
    assert sorted(by_recipient(good.inbox)) == sorted(set(RECIPIENTS) - {address})
    assert list(outbox(book, "uncertain")) == [address]
    assert later.json()["uncertain_earlier"] == 1
    assert "warning: 1 message left uncertain by earlier sends still waits for a person" in \
        later.stderr


def test_two_senders_at_once_never_send_the_same_message(arrears_cli, smtp_server):
    arrears_cli("init", "--demo").assert_success()
    arrears_cli("run").assert_success()
    queued = messages(arrears_cli, "queued")
    assert len(queued) > 50
    server = smtp_server(Inbox(delay=0.01))
    processes = [arrears_process(arrears_cli.db_url, "outbox", "send", "--smtp", server.url(),
                                 "--format", "json") for _ in range(2)]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        results.append(json.loads(stdout))
    ids = Counter(server.inbox.message_ids())
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    assert len(ids) == sum(r["sent"] for r in results) == len(queued)
    assert {m["status"] for m in messages(arrears_cli)} == {"sent"}


@backends("postgresql")  # SQLite has no row locks: a writer waits for the whole database
def test_a_message_another_transaction_holds_is_passed_by_not_waited_for(book, smtp_server,
                                                                          arrears_db_url):
    server = smtp_server()
    held = RECIPIENTS[0]
    engine = create_engine(arrears_db_url)
    try:
        with engine.connect() as holder:  # as a sender in the middle of its claim would
            holder.execute(text("SELECT id FROM outbox WHERE recipient = :to FOR UPDATE"),
                           {"to": held}).one()
            process = arrears_process(arrears_db_url, "outbox", "send", "--smtp", server.url(),
                                      "--format", "json")
            try:
                stdout, stderr = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                pytest.fail("the sender waited for the locked message instead of passing it by")
            holder.rollback()
    finally:
        engine.dispose()
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    assert (summary["sent"], summary["not_attempted"]) == (2, 1)
    assert sorted(by_recipient(server.inbox)) == sorted(set(RECIPIENTS) - {held})
    assert (outbox(book)[held]["status"], outbox(book)[held]["attempts"]) == ("queued", 0)
    assert send(book, server.url()).json()["sent"] == 1
    assert {m["status"] for m in outbox(book).values()} == {"sent"}


def test_demo_end_to_end_delivers_each_email_once(arrears_cli, smtp_server):
    arrears_cli("init", "--demo").assert_success()
    arrears_cli("run").assert_success()
    messages = arrears_cli("outbox", "--status", "queued", "--format", "json").json()["messages"]
    emails = [m for m in messages if m["channel"] == "email"]
    assert emails and len(emails) == len(messages)
    server = smtp_server()
    arrears_cli("outbox", "send", "--smtp", server.url()).assert_success()
    received = Counter(server.inbox.message_ids())
    assert len(server.inbox.received) == len(emails) == len(received)
    assert set(received) == {m["message_id"] for m in arrears_cli(
        "outbox", "--format", "json").json()["messages"]}
    again = arrears_cli("outbox", "send", "--smtp", server.url()).assert_success()
    assert "no queued messages" in again.stderr
    assert len(server.inbox.received) == len(emails)


def test_the_smtp_sender_is_a_builtin_plugin(arrears_cli):
    listed = {p["name"]: p for p in arrears_cli("plugins", "--format", "json").json()["plugins"]}
    assert listed["smtp"]["source"] == "builtin"
    assert listed["smtp"]["module"] == "arrears.plugins.smtp"
    assert listed["smtp"]["hooks"] == ["check_delivery_settings", "deliver_messages"]


# --- the hook, for channels of other plugins -------------------------------------------------


def query(url: str, sql: str, **params: Any) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            return [tuple(r) for r in connection.execute(text(sql), params)] \
                if sql.lstrip().upper().startswith("SELECT") else \
                [connection.execute(text(sql), params).rowcount]
    finally:
        engine.dispose()


def queue_sms(db_url: str, count: int) -> None:
    [(customer,)] = query(db_url, "SELECT id FROM customer WHERE account='C2'")
    for n in range(count):
        query(db_url, "INSERT INTO outbox (dedupe_key, customer_id, channel, recipient, subject,"
                      " body_html, body_text, status, created, attempts) VALUES (:key, :c, 'sms',"
                      " '+4670000000', '', '', :body, 'queued', '2025-01-10 08:00:00', 0)",
              key=f"sms:{n}", c=customer, body=f"text {n}")


def test_a_channel_no_plugin_delivers_stays_queued_and_cron_hears_of_it(book,
                                                                        arrears_db_url):
    query(arrears_db_url, "UPDATE outbox SET status='sent'")
    queue_sms(arrears_db_url, 2)
    result = book("outbox", "send", "--format", "json").assert_exit(1)
    assert result.json()["no_sender"] == {"sms": 2}
    assert "no plugin delivers channel 'sms': 2 messages left queued" in result.stderr
    assert [m["status"] for m in book("outbox", "--format", "json").json()["messages"]
            if m["channel"] == "sms"] == ["queued", "queued"]


def test_hook_deliver_messages(book, arrears_plugin, arrears_db_url):
    query(arrears_db_url, "UPDATE outbox SET status='sent'")
    queue_sms(arrears_db_url, 4)
    seen: list[Message] = []

    @hookimpl
    def deliver_messages(channel, messages, report, settings):
        if channel != "sms":
            return None
        assert settings == {}
        outcomes = iter([Delivery("sent", "ok"), Delivery("retry", "busy"),
                         Delivery("failed", "no such number")])
        for message in messages:
            seen.append(message)
            # claimed before it reaches us: uncertain in the database already
            assert query(arrears_db_url, "SELECT status FROM outbox WHERE id=:i",
                         i=message.id) == [("uncertain",)]
            outcome = next(outcomes, None)
            if outcome is None:
                break  # the fourth: taken and never reported (as if killed)
            report(message, outcome)
        return True

    arrears_plugin(deliver_messages)
    result = book("outbox", "send", "--format", "json").assert_exit(1).json()
    assert [(m["status"], m["detail"]) for m in result["messages"]] == [
        ("sent", "ok"), ("queued", "busy"), ("failed", "no such number"),
        ("uncertain", "handed to the sender, no outcome was reported")]
    assert [m.body_text for m in seen] == ["text 0", "text 1", "text 2", "text 3"]
    assert all(m.customer == "C2" and m.attempts == 1 and m.channel == "sms" for m in seen)
    assert seen[0].message_id.startswith(f"<arrears.{seen[0].id}.")
    assert seen[0].message_id.endswith("@arrears.invalid>")  # no sender address
    rows = query(arrears_db_url, "SELECT status, last_error, sent IS NOT NULL FROM outbox "
                                 "WHERE channel='sms' ORDER BY id")
    assert [(r[0], r[2]) for r in rows] == [("sent", 1), ("queued", 0), ("failed", 0),
                                           ("uncertain", 0)]
    assert [r[1] for r in rows[1:3]] == ["busy", "no such number"]
    second = book("outbox", "send", "--format", "json").assert_success().json()
    assert [(m["id"], m["status"]) for m in second["messages"]] == [(seen[1].id, "sent")]


def test_a_channel_whose_settings_are_missing_stays_queued_and_the_others_go(
        book, arrears_plugin, arrears_db_url, smtp_server):
    queue_sms(arrears_db_url, 2)

    @hookimpl
    def deliver_messages(channel, messages, report, settings):
        if channel != "sms":
            return None
        raise BadInput("ACME_SMS_URL: not set: where texts are sent")

    arrears_plugin(deliver_messages)
    server = smtp_server()
    result = send(book, server.url(), code=2)
    assert result.json()["sent"] == 3 and len(server.inbox.received) == 3
    assert result.json()["refused"] == {"sms": "ACME_SMS_URL: not set: where texts are sent"}
    assert "Error: channel 'sms': ACME_SMS_URL: not set: where texts are sent" in result.stderr
    assert "3 sent, 0 failed, 0 left queued to retry, 0 uncertain, 2 not attempted" in \
        result.stderr
    assert sorted((m["channel"], m["status"]) for m in messages(book)) == [
        ("email", "sent")] * 3 + [("sms", "queued")] * 2
    # With no SMTP server either, nothing is tried: exit 2, every message as it was.
    query(arrears_db_url, "UPDATE outbox SET status = 'queued' WHERE channel = 'email'")
    refused = send(book, None, code=2, env={"ARREARS_SMTP_URL": ""})
    assert refused.stdout == "" and "ACME_SMS_URL: not set" in refused.stderr
    assert "$ARREARS_SMTP_URL" in refused.stderr
    assert {(m["status"], m["attempts"]) for m in messages(book)} == {("queued", 0),
                                                                      ("queued", 1)}


def test_a_sender_that_breaks_down_stops_its_own_channel_only(book, arrears_plugin,
                                                              arrears_db_url):
    queue_sms(arrears_db_url, 2)  # queued after the book's three emails

    @hookimpl
    def deliver_messages(channel, messages, report, settings):
        for message in messages:
            if channel == "email":  # takes the first email, then a bug
                raise RuntimeError("gateway exploded")
            report(message, Delivery("sent", "ok"))
        return True

    arrears_plugin(deliver_messages, name="flaky_gateway")
    result = send(book, None, code=1)
    assert result.json()["errors"] == {
        "email": "a plugin failed: flaky_gateway: RuntimeError: gateway exploded"}
    assert result.json()["sent"] == 2 and result.json()["not_attempted"] == 2
    assert "Error: channel 'email': a plugin failed: flaky_gateway: RuntimeError: " \
           "gateway exploded" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted((m["channel"], m["status"]) for m in messages(book)) == [
        ("email", "queued"), ("email", "queued"), ("email", "uncertain"),
        ("sms", "sent"), ("sms", "sent")]


def test_a_broken_down_channel_is_told_beside_a_refused_one(book, arrears_plugin,
                                                             arrears_db_url):
    queue_sms(arrears_db_url, 1)

    @hookimpl
    def deliver_messages(channel, messages, report, settings):
        if channel == "sms":
            raise RuntimeError("gateway exploded")

    arrears_plugin(deliver_messages, name="flaky_gateway")
    result = send(book, None, code=2, env={"ARREARS_SMTP_URL": ""})
    assert result.json()["errors"] == {
        "sms": "a plugin failed: flaky_gateway: RuntimeError: gateway exploded"}
    assert "$ARREARS_SMTP_URL" in result.json()["refused"]["email"]
    assert "Error: channel 'sms': a plugin failed: flaky_gateway" in result.stderr
    assert "Error: channel 'email': " in result.stderr


# --- the URL --------------------------------------------------------------------------------


def test_the_url_is_parsed_and_its_password_never_shown():
    config = parse_url("smtp://apikey:S%40CR%3AET%2F1@smtp.example.net:587"
                       "?starttls=1&timeout=5&per_connection=10")
    assert (config.scheme, config.host, config.port, config.user, config.password) == (
        "smtp", "smtp.example.net", 587, "apikey", "S@CR:ET/1")
    assert (config.starttls, config.timeout, config.per_connection) == (True, 5.0, 10)
    for shown in (str(config), repr(config), config.display):
        assert "S@CR" not in shown and "S%40CR" not in shown
    assert config.display == "smtp://apikey:***@smtp.example.net:587?starttls=1"
    assert config.scrub("535 bad S@CR:ET/1 and S%40CR%3AET%2F1") == "535 bad *** and ***"
    # A server echoing the AUTH data it was sent: base64, padded or not; and a password
    # with runs of whitespace, shown collapsed as replies are.
    import base64

    plain = base64.b64encode(b"\0apikey\0S@CR:ET/1").decode()
    login = base64.b64encode(b"S@CR:ET/1").decode().rstrip("=")
    assert config.scrub(f"535 5.7.8 invalid: {plain} / {login} ok") == \
        "535 5.7.8 invalid: *** / *** ok"
    spaced = parse_url("smtp://u:a%20%20b%09c@h")
    assert spaced.scrub("535 no a b c here") == "535 no *** here"
    assert spaced.scrub("Ok9876 QUJD") == "Ok9876 QUJD"  # base64-like words stay
    plain = parse_url("smtp://mail.example.net")
    assert (plain.port, plain.user, plain.password, plain.timeout, plain.per_connection) == (
        25, None, None, 30.0, 100)
    assert parse_url("smtps://u:p@mail.example.net").port == 465
    assert isinstance(parse_url("smtp://[::1]:2525"), SmtpConfig)


@pytest.mark.parametrize("url", [
    "http://u:hunter2-unique@mail.example.net", "smtp://u:hunter2-unique@",
    "smtp://u:hunter2-unique@mail.example.net:port", "smtps://u:hunter2-unique@h?starttls=1",
    "smtp://u:hunter2-unique@h?verify=0", "smtp://u:hunter2-unique@h?timeout=-1",
    "smtp://u:hunter2-unique@h?per_connection=0", "smtp://u:hunter2-unique@h/path",
    "smtp://u:hunter2-unique@h?cafile=/no/such/file.pem", "smtp://u:hunter#2-unique@h",
])
def test_a_bad_url_is_refused_without_showing_it(url):
    with pytest.raises(BadInput) as refused:
        parse_url(url)
    assert "hunter" not in str(refused.value) and str(refused.value).startswith("--smtp: ")


def test_a_bad_url_on_the_command_line_is_exit_2_and_not_echoed(book):
    result = book("outbox", "send", "--smtp", "smtp://u:hunter2-unique@h?verify=0")
    result.assert_exit(2)
    assert "hunter2" not in result.stdout + result.stderr
    assert {m["attempts"] for m in outbox(book).values()} == {0}

