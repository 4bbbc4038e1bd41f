"""arrears-sms through the CLI: setup checks, the run, and delivery to a real HTTP gateway."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import arrears_sms
import pytest

from arrears.core.testing import installed_plugin

TOKEN = "s3cret-gateway-token"

SETUP = """
[parameters]
accounting_currency = "USD"

[[pool]]
id = "ALL"

[[hierarchy]]
id = "STD"
pool = "ALL"
rank = 1

  [[hierarchy.step]]
  description = "Text reminder"
  action = "sms"
  document = "SMS1"
  contact_purpose = "billing"
  when = "after"
  days = 3

[[sms_template]]
id = "SMS1"
default_language = "en"
  [sms_template.text]
  en = "Invoice {{ invoice.number }}: {{ invoice.open_amount }} {{ invoice.currency }} is overdue."
  sv = "Faktura {{ invoice.number }} är förfallen."
"""

EN = re.search(r'^  en = "(.*)"$', SETUP, re.MULTILINE).group(1)  # the English text

CUSTOMERS = [
    {"account": "C1", "name": "Nordic AB", "currency": "USD", "language": "sv"},
    {"account": "C2", "name": "Fabrikam", "currency": "USD", "language": "de"},
    {"account": "C3", "name": "No Phone Inc", "currency": "USD", "language": "en"},
]
CONTACTS = [
    {"customer": "C1", "email": "ap@nordic.example", "purpose": "billing",
     "phone": "+46700000001"},
    {"customer": "C2", "email": "ap@fabrikam.example", "purpose": "billing",
     "phone": "+15550100"},
    {"customer": "C3", "email": "ap@nophone.example", "purpose": "billing", "phone": ""},
]
INVOICES = [
    {"number": f"INV-{n}", "customer": f"C{n}", "invoice_date": "2025-01-01",
     "due_date": "2025-01-15", "amount": "120.50", "currency": "USD"} for n in (1, 2, 3)
]


@pytest.fixture
def book(arrears_book, arrears_plugin):
    arrears_plugin(arrears_sms)  # a no-op once the package is installed
    arrears_book.setup(SETUP)
    arrears_book.load(customers=CUSTOMERS, contacts=CONTACTS, invoices=INVOICES)
    return arrears_book


class Gateway:
    """An SMS gateway on 127.0.0.1 that records each POST and answers with the next
    of *replies* (200 once they run out); a reply of ``"slow"`` never answers in time."""

    def __init__(self):
        self.received: list[dict] = []
        self.replies: list[int | str] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.received.append({"headers": dict(self.headers),
                                         "json": json.loads(body)})
                reply = gateway.replies.pop(0) if gateway.replies else 200
                if reply == "slow":
                    time.sleep(12)
                    return
                self.send_response(reply)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(monkeypatch):
    running = Gateway()
    monkeypatch.setenv("ARREARS_SMS_URL", running.url)
    monkeypatch.setenv("ARREARS_SMS_TOKEN", TOKEN)
    yield running
    running.close()


def send(book):
    result = book.cli("outbox", "send", "--format", "json")
    assert TOKEN not in result.stdout + result.stderr
    return result


# --- the setup ---------------------------------------------------------------------------


def test_the_plugin_is_listed_as_an_installed_entry_point(arrears_cli):
    sms = installed_plugin(arrears_cli, "arrears-sms")
    assert (sms["name"], sms["source"], sms["module"]) == ("sms", "entry point", "arrears_sms")
    assert sms["hooks"] == ["deliver_messages", "execute_action", "register_action_types"]


@pytest.mark.parametrize(("change", "problem"), [
    (lambda s: s.replace('document = "SMS1"', 'document = "SMS9"'),
     'hierarchy "STD", step 1 ("Text reminder"): document: no sms_template "SMS9"'),
    (lambda s: s.replace('contact_purpose = "billing"\n', ""),
     'contact_purpose: is required by action type "sms"'),
    (lambda s: s.replace('default_language = "en"', 'default_language = "fr"'),
     'default_language: no text for "fr"'),
    (lambda s: s.replace('default_language = "en"', 'default_language = "en"\nmax_length = 40'),
     f"text.en: {len(EN)} characters, over max_length 40"),
    (lambda s: s.replace("är förfallen.", "är {{ förfallen"), "text.sv: "),
])
def test_a_wrong_sms_setup_is_refused_naming_the_place(arrears_book, arrears_plugin, change,
                                                        problem):
    arrears_plugin(arrears_sms)
    result = arrears_book.setup(change(SETUP), check=False).assert_exit(2)
    assert problem in result.stderr
    assert "setup.toml" in result.stderr


def test_without_the_plugin_the_setup_is_refused_naming_the_action_type(tmp_path):
    path = tmp_path / "setup.toml"
    path.write_text(SETUP)
    env = {**os.environ, "ARREARS_DISABLE_PLUGINS": "sms"}
    result = subprocess.run([sys.executable, "-m", "arrears.core", "setup", "check", str(path)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2, result.stderr
    assert 'action: unknown action type "sms"' in result.stderr
    assert "sms_template" in result.stderr


# --- the run -----------------------------------------------------------------------------


def test_the_run_queues_one_text_per_invoice_in_the_customers_language(book):
    assert book.run("2025-01-17") == []
    actions = book.run("2025-01-18")
    assert sorted((a["customer"], a["action"], a["document"], a["recipient"])
                  for a in actions) == [("C1", "sms", "SMS1", "+46700000001"),
                                        ("C2", "sms", "SMS1", "+15550100")]
    messages = {m["customer"]: m for m in book.outbox()}
    assert set(messages) == {"C1", "C2"}
    assert {m["channel"] for m in messages.values()} == {"sms"}
    assert messages["C1"]["to"] == "+46700000001"
    history = book.history("--customer", "C3")
    assert [(e["kind"], e["reason"]) for e in history] == [
        ("failed", 'no contact with purpose "billing" and a phone')]
    assert book.run("2025-01-19") == []  # done once: never again for the invoice
    assert len(book.outbox()) == 2


def test_a_text_that_cannot_render_is_not_possible_and_the_run_goes_on(
        arrears_book, arrears_plugin):
    arrears_plugin(arrears_sms)
    arrears_book.setup(SETUP.replace("är förfallen", "{{ customer.nam }}"))
    arrears_book.load(customers=CUSTOMERS, contacts=CONTACTS, invoices=INVOICES)
    assert [a["customer"] for a in arrears_book.run("2025-01-18")] == ["C2"]
    [failed] = [e for e in arrears_book.history("--customer", "C1") if e["kind"] == "failed"]
    assert (failed["step"], failed["reason"]) == (
        "Text reminder", 'sms_template "SMS1": text.sv: template error: '
        "'arrears.core.domain.Customer object' has no attribute 'nam'")


def test_simulate_shows_the_texts_and_queues_nothing(book):
    assert {a["customer"] for a in book.simulate("2025-01-18")} == {"C1", "C2"}
    assert book.outbox() == []


# --- delivery ----------------------------------------------------------------------------


def test_send_posts_json_with_the_bearer_token_and_marks_sent(book, gateway):
    book.run("2025-01-18")
    result = send(book).assert_success()
    assert result.json()["sent"] == 2
    bodies = sorted((r["json"] for r in gateway.received), key=lambda b: b["to"])
    assert [b["to"] for b in bodies] == ["+15550100", "+46700000001"]
    assert bodies[0]["text"] == "Invoice INV-2: 120.50 USD is overdue."  # de: the default
    assert bodies[1]["text"] == "Faktura INV-1 är förfallen."
    assert all(b["reference"].startswith("<arrears.") for b in bodies)
    assert {r["headers"]["Authorization"] for r in gateway.received} == {f"Bearer {TOKEN}"}
    assert {m["status"] for m in book.outbox()} == {"sent"}
    assert send(book).assert_success().json()["messages"] == []  # nothing sent twice


def test_a_4xx_fails_the_message_for_good_a_5xx_leaves_it_queued(book, gateway):
    book.run("2025-01-18")
    gateway.replies = [422, 503]
    summary = send(book).assert_exit(1).json()
    assert (summary["failed"], summary["queued"], summary["sent"]) == (1, 1, 0)
    statuses = sorted(m["status"] for m in book.outbox())
    assert statuses == ["failed", "queued"]
    summary = send(book).assert_success().json()
    assert summary["sent"] == 1
    assert len(gateway.received) == 3


def test_too_many_requests_is_no_refusal_the_message_waits(book, gateway):
    book.run("2025-01-18")
    gateway.replies = [429]
    summary = send(book).assert_exit(1).json()
    assert (summary["queued"], summary["failed"], summary["not_attempted"]) == (1, 0, 1)
    assert send(book).assert_success().json()["sent"] == 2


def test_an_unreachable_or_slow_gateway_leaves_every_message_queued(book, gateway, monkeypatch):
    book.run("2025-01-18")
    gateway.replies = ["slow"]
    summary = send(book).assert_exit(1).json()
    assert (summary["queued"], summary["not_attempted"]) == (1, 1)
    monkeypatch.setenv("ARREARS_SMS_URL", "http://127.0.0.1:9/unreachable")
    send(book).assert_exit(1)
    assert {m["status"] for m in book.outbox()} == {"queued"}


def test_send_without_a_gateway_url_says_so_and_sends_nothing(book, monkeypatch):
    monkeypatch.delenv("ARREARS_SMS_URL", raising=False)
    book.run("2025-01-18")
    result = send(book).assert_exit(2)
    assert "ARREARS_SMS_URL" in result.stderr
    assert {m["status"] for m in book.outbox()} == {"queued"}
