"""Delivering ``email`` messages over SMTP: the sender behind ``arrears outbox send``.

The server is a URL, from ``--smtp`` or ``$ARREARS_SMTP_URL``::

    smtp://HOST[:PORT]                         plain (port 25)
    smtp://USER:PASSWORD@HOST:587?starttls=1   STARTTLS, then login
    smtps://USER:PASSWORD@HOST[:465]           implicit TLS, then login

User and password are percent-decoded. Query options: ``starttls=1``,
``timeout=SECONDS`` (default 30), ``per_connection=N`` messages before the
connection is renewed (default 100), ``cafile=PATH`` (PEM certificates to
trust instead of the system's, for a private CA). Certificates are always
verified.

The password is shown nowhere: :class:`SmtpConfig` displays itself without
it, every detail reported is scrubbed of it, and no error names the URL.

Each message is sent with the protocol's steps one by one, so a failure is
known by where it happened. A refusal of ``MAIL FROM``, ``RCPT TO`` or
``DATA`` before the content is sent: 5xx is ``failed`` with the server's
reply, 4xx is ``retry``; a lost connection there is ``retry`` too (nothing
was handed over). A lost connection or a timeout after the content was sent
is ``uncertain``: the server may have accepted it. The final reply 250 is
``sent``. If the server cannot be reached at all, the message in hand is
``retry`` and the others are left queued, untouched. A refused login, or a
server that demands one (530 or 503 to MAIL FROM), is the URL's fault, not
the message's: the message in hand is ``retry`` and the command stops with
BadInput (exit 2).
"""

from __future__ import annotations

import base64
import email.policy
import os
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import Header, decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, getaddresses
from pathlib import Path
from smtplib import (
    SMTP,
    SMTP_SSL,
    SMTPAuthenticationError,
    SMTPException,
    SMTPNotSupportedError,
    SMTPResponseException,
    SMTPServerDisconnected,
)
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import attrs

from arrears.core import hookimpl, templating
from arrears.core.domain import Delivery, Message
from arrears.core.errors import BadInput

CHANNEL = "email"
ENV = "ARREARS_SMTP_URL"
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_TIMEOUT = 30.0
DEFAULT_PER_CONNECTION = 100
OPTIONS = ("starttls", "timeout", "per_connection", "cafile")
URL_FORM = "smtp://USER:PASSWORD@HOST:PORT, ?starttls=1 or smtps:// for TLS"


# --- the server's URL ---------------------------------------------------------------


@attrs.frozen(repr=False)
class SmtpConfig:
    """Where and how to deliver; its ``str`` and ``repr`` never show the password."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = DEFAULT_TIMEOUT
    per_connection: int = DEFAULT_PER_CONNECTION
    cafile: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def display(self) -> str:
        """The URL with the password as ``***``: the only form shown."""
        user = f"{quote(self.user, safe='')}{':***' if self.password else ''}@" \
            if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "?starttls=1" if self.starttls else ""
        return f"{self.scheme}://{user}{host}:{self.port}{query}"

    def __repr__(self) -> str:
        return f"SmtpConfig({self.display})"

    __str__ = __repr__

    def scrub(self, text: str) -> str:
        """*text* without the password in any form it could take: as written, percent-
        encoded, with its whitespace collapsed (as replies are shown), or inside base64
        (a server that echoes the AUTH PLAIN or LOGIN data it was sent)."""
        if not self.password:
            return text
        secret = self.password.encode()

        def hide(token: re.Match[str]) -> str:
            try:
                decoded = base64.b64decode(token[0] + "=" * (-len(token[0]) % 4))
            except ValueError:  # binascii.Error: not base64 after all
                return token[0]
            return "***" if secret in decoded else token[0]

        text = _BASE64.sub(hide, text)
        for form in sorted({self.password, quote(self.password, safe=""),
                            quote(self.password), " ".join(self.password.split())},
                           key=len, reverse=True):
            if form:
                text = text.replace(form, "***")
        return text

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)


_BASE64 = re.compile(r"[A-Za-z0-9+/]{4,}={0,2}")


def parse_url(url: str, *, source: str = "--smtp") -> SmtpConfig:
    """The :class:`SmtpConfig` of *url*; BadInput naming *source*, never the URL, if wrong."""

    def bad(problem: str) -> BadInput:
        return BadInput(f"{source}: {problem} (expected {URL_FORM}; percent-encode "
                        "characters such as @ : / ? # in the user or password)")

    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise bad("not a valid SMTP URL") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise bad("the scheme must be smtp or smtps")
    if not host:
        raise bad("no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise bad("unexpected text after the host")
    options: dict[str, str] = {}
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise bad("the query is not key=value pairs") from None
    for key, value in pairs:
        if key not in OPTIONS:
            raise bad(f"unknown query option; known: {', '.join(OPTIONS)}")
        options[key] = value
    starttls = options.get("starttls", "0").lower()
    if starttls not in ("0", "1", "true", "false", "yes", "no"):
        raise bad("starttls= must be 1 or 0")
    starttls_on = starttls in ("1", "true", "yes")
    if starttls_on and parts.scheme == "smtps":
        raise bad("starttls=1 is for smtp://; smtps:// is TLS from the start")
    try:
        timeout = float(options.get("timeout", DEFAULT_TIMEOUT))
        if not 0 < timeout <= 3600:
            raise ValueError
    except ValueError:
        raise bad("timeout= must be a number of seconds, more than 0") from None
    try:
        per_connection = int(options.get("per_connection", DEFAULT_PER_CONNECTION))
        if per_connection < 1:
            raise ValueError
    except ValueError:
        raise bad("per_connection= must be a whole number of messages, 1 or more") from None
    cafile = options.get("cafile") or None
    if cafile is not None and not Path(cafile).is_file():
        raise BadInput(f"{source}: cafile= {cafile} is not a file")
    return SmtpConfig(
        scheme=parts.scheme, host=host, port=port or DEFAULT_PORTS[parts.scheme],
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        starttls=starttls_on, timeout=timeout, per_connection=per_connection, cafile=cafile)


def given_config(settings: Mapping[str, str]) -> SmtpConfig | None:
    """The server from ``settings["smtp"]`` (``--smtp``), else ``$ARREARS_SMTP_URL``;
    None when neither is given. BadInput when the one given is wrong."""
    if settings.get("smtp"):
        return parse_url(settings["smtp"], source="--smtp")
    if os.environ.get(ENV):
        return parse_url(os.environ[ENV], source=f"${ENV}")
    return None


def config_from(settings: Mapping[str, str]) -> SmtpConfig:
    """The server :func:`given_config` names; BadInput when none is given."""
    if (config := given_config(settings)) is not None:
        return config
    raise BadInput(f"no SMTP server to send email through: give --smtp URL or set ${ENV} "
                   f"({URL_FORM})")


# --- the message ---------------------------------------------------------------------


class Unsendable(Exception):
    """The message itself cannot be sent as it is (an unusable address)."""


def _set_header(mime: EmailMessage, name: str, text: str, address: str | None = None) -> None:
    """Set header *name* to *text* (or to the address *address* named *text*) as it reads.

    The email package decodes RFC 2047 encoded words (``=?utf-8?q?…?=``) in a value
    it is given, line breaks included, so a customer's name or invoice number written
    as one would become headers of its own, and it writes text that only looks like
    one as it is. Such text is written encoded, whole, so that it decodes to itself.
    """
    if "=?" not in text:
        mime[name] = Address(display_name=text, addr_spec=address) if address else text
        return
    encoded = Header(text, "utf-8", header_name=name).encode(linesep="\n")
    mime.set_raw(name, f"{encoded} <{address}>" if address else encoded)


CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def _address(text: str, what: str) -> Address:
    """*text*, one address as ``formataddr`` wrote it, as an Address: its display name
    decoded (once) from the encoded words ``formataddr`` makes of a name not in ASCII."""
    found = [(name, address) for name, address in getaddresses([text]) if address]
    if len(found) != 1 or "@" not in found[0][1]:
        raise Unsendable(f"the {what} {text!r} is not one email address")
    name, address = found[0]
    try:
        name = str(make_header(decode_header(name)))
    except (HeaderParseError, UnicodeError, LookupError):
        pass  # not encoded words after all: the name as it is
    name = CONTROLS.sub(" ", name)
    try:
        return Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError) as error:
        raise Unsendable(f"the {what} {text!r} is not an email address: {error}") from None


SEVEN_BIT = email.policy.SMTP.clone(cte_type="7bit")


def build_message(message: Message, *, now: datetime | None = None) -> EmailMessage:
    """*message* as MIME: ``multipart/alternative``, the plain text first, then the HTML.

    Headers: From (the template's sender name and address), To, Subject, Date,
    Message-ID (stable for the message) and Content-Language. Non-ASCII text
    is encoded (RFC 2047 in headers); an address that is not ASCII needs
    SMTPUTF8 and is written as UTF-8.
    """
    if not message.sender:
        raise Unsendable("the message has no sender address")
    sender = _address(message.sender, "sender")
    recipient = _address(message.recipient, "recipient")
    ascii_only = all(part.isascii() for part in (sender.addr_spec, recipient.addr_spec))
    # ASCII addresses: a 7-bit message (quoted-printable or base64 bodies), fit for any
    # server; else SMTPUTF8, which allows 8-bit (sent with BODY=8BITMIME).
    mime = EmailMessage(policy=SEVEN_BIT if ascii_only else email.policy.SMTPUTF8)
    _set_header(mime, "From", sender.display_name, sender.addr_spec)
    _set_header(mime, "To", recipient.display_name, recipient.addr_spec)
    _set_header(mime, "Subject", message.subject)
    mime["Date"] = format_datetime(now or datetime.now(UTC))
    mime["Message-ID"] = message.message_id
    mime.set_content(message.body_text or templating.plain_text(message.body_html))
    if message.body_html:
        mime.add_alternative(message.body_html, subtype="html")
    if message.language:  # after the content: set_content drops Content-* headers
        mime["Content-Language"] = message.language
    block = b"".join(mime.policy.fold_binary(name, value) for name, value in mime.raw_items())
    written = BytesHeaderParser(policy=email.policy.compat32).parsebytes(block).keys()
    if sorted(written) != sorted(mime.keys()):  # the last guard: never a header we did not set
        raise Unsendable(f"its headers would not be the ones arrears set: {', '.join(written)}")
    return mime


# --- the conversation --------------------------------------------------------------


class CannotConnect(Exception):
    """The server could not be reached, greeted us badly, or refused TLS."""


class SessionRefused(Exception):
    """The server refused the login, or demands one (or TLS) we did not give: the URL is wrong."""


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}".strip()


def _verdict(phase: str, code: int, text: bytes | str) -> Delivery:
    """A refusal's Delivery: 5xx failed for good, anything else tried again."""
    detail = f"{phase}: {_reply(code, text)}"
    return Delivery("failed" if 500 <= code < 600 else "retry", detail)


def _problem(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Connection:
    """One SMTP server, connected on first use and renewed every *per_connection* messages."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self.client: SMTP | None = None
        self.used = 0

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Say goodbye politely if the connection still works; drop it either way."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.quit()
        except (SMTPException, OSError):
            client.close()

    def drop(self) -> None:
        """Forget a broken connection without talking to the server."""
        client, self.client = self.client, None
        if client is not None:
            client.close()

    def connect(self) -> SMTP:
        config = self.config
        where = config.address
        client: SMTP | None = None
        try:
            if config.scheme == "smtps":
                client = SMTP_SSL(config.host, config.port, timeout=config.timeout,
                                  context=config.ssl_context())
            else:
                client = SMTP(config.host, config.port, timeout=config.timeout)
            if config.starttls:
                client.ehlo()
                if not client.has_extn("starttls"):
                    raise CannotConnect(f"{where} does not offer STARTTLS (starttls=1)")
                client.starttls(context=config.ssl_context())
                client.ehlo()
            if config.user:
                _login(client, config.user, config.password or "")
        except SMTPAuthenticationError as error:
            _close(client)
            raise SessionRefused(config.scrub(
                f"SMTP login failed for user {config.user} at {where}: "
                f"{_reply(error.smtp_code, error.smtp_error)}")) from None
        except SMTPNotSupportedError:
            _close(client)
            raise SessionRefused(f"SMTP login failed for user {config.user} at {where}: the "
                                 "server offers no login here (give starttls=1 or smtps:// "
                                 "if it offers it only over TLS)") from None
        except CannotConnect:
            _close(client)
            raise
        except (SMTPException, OSError) as error:
            _close(client)
            raise CannotConnect(config.scrub(
                f"cannot connect to {config.display}: {_problem(error)}")) from None
        self.client, self.used = client, 0
        return client

    def deliver(self, message: Message) -> Delivery:
        """Hand *message* over; CannotConnect or SessionRefused when it cannot be tried.

        A reused connection found closed before anything was handed over
        (servers drop idle ones) is renewed once, and the message tried again.
        """
        try:
            mime = build_message(message)
        except Unsendable as error:
            return Delivery("failed", str(error))
        for attempt in (1, 2):
            if self.client is not None and self.used >= self.config.per_connection:
                self.close()
            fresh = self.client is None
            client = self.client or self.connect()
            self.used += 1
            delivery = self._transaction(client, mime)
            if delivery is not None:
                return delivery
            if fresh or attempt == 2:
                return Delivery("retry", "the connection was lost before the message was "
                                f"handed over ({self.config.address})")
        raise AssertionError("unreachable")

    def _transaction(self, client: SMTP, mime: EmailMessage) -> Delivery | None:
        """MAIL, RCPT, DATA; None when the connection was found lost before DATA's content."""
        sender = mime["From"].addresses[0].addr_spec
        recipient = mime["To"].addresses[0].addr_spec
        options: list[str] = []
        try:
            client.ehlo_or_helo_if_needed()
            if not (sender.isascii() and recipient.isascii()):
                if not client.has_extn("smtputf8"):
                    return Delivery("failed", "the server does not accept non-ASCII "
                                    "addresses (no SMTPUTF8)")
                options = ["SMTPUTF8", "BODY=8BITMIME"]
            code, text = client.mail(sender, options)
            if code != 250:
                return self._refused("MAIL FROM", code, text)
            code, text = client.rcpt(recipient)
            if code not in (250, 251):
                return self._refused("RCPT TO", code, text)
            client.putcmd("data")
            code, text = client.getreply()
            if code != 354:
                return self._refused("DATA", code, text)
        except (SMTPServerDisconnected, OSError):
            self.drop()
            return None
        except SMTPResponseException as error:  # EHLO and HELO refused: not this message's fault
            self.drop()
            return Delivery("retry", f"EHLO: {_reply(error.smtp_code, error.smtp_error)}")
        payload = mime.as_bytes(policy=mime.policy)
        payload = re.sub(rb"(?m)^\.", b"..", payload)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        try:
            client.send(payload + b".\r\n")
            code, text = client.getreply()
        except (SMTPServerDisconnected, OSError) as error:
            self.drop()
            return Delivery("uncertain", self.config.scrub(
                f"the connection was lost after the message was handed over, before the "
                f"server confirmed it ({_problem(error)}); it may have been delivered"))
        if code == 250:
            return Delivery("sent", _reply(code, text))
        if code == 421:
            self.drop()
        return _verdict("end of DATA", code, text)

    def _refused(self, phase: str, code: int, text: bytes) -> Delivery:
        if code in (503, 530) and phase == "MAIL FROM":
            # Authentication or STARTTLS required (530; some servers say 503): the URL
            # is wrong, not the message, and every other message would fare the same.
            self.drop()
            raise SessionRefused(
                f"{self.config.address} refused to take mail from us ({phase}: "
                f"{_reply(code, text)}): it may require a login (user and password in the "
                "URL) or TLS (starttls=1 or smtps://)")
        if code == 421 or code < 200:
            self.drop()
        else:
            try:
                if self.client is not None:
                    self.client.rset()
            except (SMTPException, OSError):
                self.drop()
        return _verdict(phase, code, text)


MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")  # smtplib's order of preference


def _login(client: SMTP, user: str, password: str) -> None:
    """Log in with the best mechanism the server offers, once (``SMTP.login`` would try
    each in turn after a refusal: more failed logins on the server, for nothing)."""
    client.ehlo_or_helo_if_needed()
    offered = client.esmtp_features.get("auth", "").upper().split() \
        if client.has_extn("auth") else []
    mechanism = next((m for m in MECHANISMS if m in offered), None)
    if mechanism is None:
        raise SMTPNotSupportedError("no supported AUTH mechanism")
    client.user, client.password = user, password
    method = getattr(client, f"auth_{mechanism.lower().replace('-', '_')}")
    code, reply = client.auth(mechanism, method, initial_response_ok=True)
    if code not in (235, 503):  # 503: already authenticated
        raise SMTPAuthenticationError(code, reply)


def _close(client: SMTP | None) -> None:
    if client is not None:
        client.close()


# --- the hook ---------------------------------------------------------------------------


@hookimpl
def check_delivery_settings(settings: Mapping[str, str]) -> list[str]:
    try:
        given_config(settings)
    except BadInput as error:
        return [f"channel {CHANNEL!r}: {problem}" for problem in error.problems]
    return []


@hookimpl(trylast=True)
def deliver_messages(channel: str, messages: Iterator[Message],
                     report: Callable[[Message, Delivery], None],
                     settings: Mapping[str, str]) -> bool | None:
    if channel != CHANNEL:
        return None
    config = config_from(settings)
    with Connection(config) as connection:
        for message in messages:
            try:
                delivery = connection.deliver(message)
            except CannotConnect as error:
                report(message, Delivery("retry", config.scrub(str(error))))
                break
            except SessionRefused as error:
                report(message, Delivery("retry", config.scrub(str(error))))
                raise BadInput(config.scrub(str(error))) from None
            report(message, attrs.evolve(delivery, detail=config.scrub(delivery.detail)))
    return True
