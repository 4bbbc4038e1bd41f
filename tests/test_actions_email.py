"""The ``email`` action (SEMANTICS.md §5, §7): recipients, language, rendering, outbox."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import attrs
import pytest

from arrears.core.book import Batch
from arrears.core.context import Rates
from arrears.core.domain import Action, Contact, Customer, Invoice, Message, Party
from arrears.core.testing import RecordingContext
from arrears.plugins import emails
from arrears.plugins.smtp import build_message

AS_OF = date(2025, 1, 10)


CUSTOMER = Customer("C2", "Key Corp", "USD", language="en", sales_group="NORTH",
                    collections_agent="ANNA", id=2)


def invoice(number: str, due: date, status: str = "none", amount: str = "800.00") -> Invoice:
    return Invoice(number, "C2", date(2025, 1, 1), due, Decimal(amount), Decimal(amount), "USD",
                   status)


INVOICE = invoice("INV-2", date(2025, 1, 15))
CONTACTS = [Contact("C2", "orders@keycorp.example", "orders"),
            Contact("C2", "billing@keycorp.example", "billing"),
            Contact("C2", "second@keycorp.example", "billing")]


def context(setup: Any, *, who: Customer = CUSTOMER, contacts: list[Contact] = CONTACTS,
            invoices: list[Invoice] = (INVOICE,), simulate: bool = False,
            connection: Any = None) -> RecordingContext:
    batch = Batch([who], {who.account: list(invoices)}, {who.account: list(contacts)}, {}, {},
                  {}, {i.number: n for n, i in enumerate(invoices, 1)})
    return RecordingContext(as_of=AS_OF, setup=setup, rates=Rates("USD"), simulate=simulate,
                     batch=batch, connection=connection)


def act(pm: Any, ctx: RecordingContext, *, who: Customer = CUSTOMER, **step_changes: Any) -> Any:
    hierarchy = ctx.setup.hierarchy("STD")
    step = attrs.evolve(hierarchy.steps[0], **step_changes)
    action = Action(who.account, hierarchy.id, step.description, step.action, INVOICE.number,
                    ctx.as_of, step.document)
    return pm.hook.execute_action(action=action, customer=who, invoice=INVOICE, step=step,
                                  hierarchy=hierarchy, context=ctx)


def with_body(setup: Any, language: str = "en", **changes: Any) -> Any:
    template = setup.templates["email_template"]["REMIND"]
    body = {**template.body, language: attrs.evolve(template.body[language], **changes)}
    templates = {**setup.templates,
                 "email_template": {"REMIND": attrs.evolve(template, body=body)}}
    return attrs.evolve(setup, templates=templates)


# --- recipients ------------------------------------------------------------------------------


def test_the_first_contact_with_the_step_s_purpose_in_import_order(arrears_pm, setup):
    ctx = context(setup)
    outcome = act(arrears_pm, ctx)
    assert (outcome.done, outcome.recipient, outcome.document) == (
        True, "billing@keycorp.example", "REMIND")
    [message] = ctx.rows("outbox")
    assert message["recipient"] == "billing@keycorp.example"
    assert message["dedupe_key"] == "email:STD:Pre-dunning:INV-2"
    assert message["channel"] == "email" and message["status"] == "queued"
    assert message["sender"] == "Accounts Receivable <ar@example.com>"
    assert (message["template"], message["language"]) == ("REMIND", "en")
    assert (message["hierarchy"], message["step"], message["invoice_id"]) == (
        "STD", "Pre-dunning", 1)
    assert message["subject"] == "Invoice INV-2 is due on 2025-01-15"
    # No text body in the template: the sender derives it from the HTML.
    assert message["body_text"] == ""
    built = build_message(Message(1, "C2", "email", message["recipient"], message["sender"],
                                  message["subject"], message["body_html"], "", "en",
                                  "<arrears.1@example>", 1))
    assert built.get_body(("plain",)).get_content().strip() == \
        "Dear Key Corp,\n\ninvoice INV-2 of 800.00 USD is due on 2025-01-15."


def test_no_contact_with_the_purpose_means_not_done(arrears_pm, setup):
    ctx = context(setup, contacts=CONTACTS[:1])
    outcome = act(arrears_pm, ctx)
    assert (outcome.done, outcome.reason) == (False, 'no contact with purpose "billing"')
    assert ctx.rows("outbox") == []


@pytest.mark.parametrize("recipient, expected", [
    ("sales_group", "north@example.com"), ("collections_agent", "anna@example.com")])
def test_sales_group_and_collections_agent_use_the_setup_s_addresses(arrears_pm, setup,
                                                                     recipient, expected):
    outcome = act(arrears_pm, context(setup), recipient=recipient, contact_purpose=None)
    assert (outcome.done, outcome.recipient) == (True, expected)


def test_parties_without_an_address_mean_not_done(arrears_pm, setup):
    silent = attrs.evolve(setup, sales_groups=(Party("NORTH", "North sales"),))
    outcome = act(arrears_pm, context(silent), recipient="sales_group")
    assert (outcome.done, outcome.reason) == (False, 'sales group "NORTH" has no email address')
    lone = attrs.evolve(CUSTOMER, collections_agent=None)
    outcome = act(arrears_pm, context(setup, who=lone), who=lone, recipient="collections_agent")
    assert outcome.reason == "customer C2 has no collections agent"
    stranger = attrs.evolve(CUSTOMER, sales_group="SOUTH")
    outcome = act(arrears_pm, context(setup, who=stranger), who=stranger,
                  recipient="sales_group")
    assert outcome.reason == 'sales group "SOUTH" is not in the setup'


def test_an_address_with_a_line_break_is_refused(arrears_pm, setup):
    evil = [Contact("C2", "a@example.com\r\nBcc: b@example.com", "billing")]
    outcome = act(arrears_pm, context(setup, contacts=evil))
    assert not outcome.done and "is not an email address" in outcome.reason
    assert "\n" not in outcome.reason


# --- language and rendering ---------------------------------------------------------------------


@pytest.mark.parametrize("language, subject, rendered", [
    ("sv", "Faktura INV-2 förfaller 2025-01-15", "sv"),
    # A regional or capitalised code finds the language's body, as letters do.
    ("sv-SE", "Faktura INV-2 förfaller 2025-01-15", "sv"),
    ("sv_SE", "Faktura INV-2 förfaller 2025-01-15", "sv"),
    ("SV", "Faktura INV-2 förfaller 2025-01-15", "sv"),
    ("de", "Invoice INV-2 is due on 2025-01-15", "en"),  # no German body: the default
    ("de-SE", "Invoice INV-2 is due on 2025-01-15", "en"),
    (None, "Invoice INV-2 is due on 2025-01-15", "en"),
])
def test_the_customer_s_language_else_the_default(arrears_pm, setup, language, subject,
                                                  rendered):
    who = attrs.evolve(CUSTOMER, language=language)
    ctx = context(setup, who=who)
    assert act(arrears_pm, ctx, who=who).done
    [message] = ctx.rows("outbox")
    assert message["subject"] == subject
    assert message["language"] == rendered


def test_a_body_for_the_customer_s_region_beats_the_language_s(arrears_pm, setup):
    template = setup.templates["email_template"]["REMIND"]
    regional = attrs.evolve(template.body["sv"], subject="Faktura {{ invoice.number }} (FI)")
    setup = attrs.evolve(setup, templates={**setup.templates, "email_template": {
        **setup.templates["email_template"],
        "REMIND": attrs.evolve(template, body={**template.body, "sv_FI": regional})}})
    for language, subject in (("sv-FI", "Faktura INV-2 (FI)"),
                              ("sv-SE", "Faktura INV-2 förfaller 2025-01-15")):
        who = attrs.evolve(CUSTOMER, language=language)
        ctx = context(setup, who=who)
        assert act(arrears_pm, ctx, who=who).done
        assert ctx.rows("outbox")[0]["subject"] == subject


def test_the_html_body_is_autoescaped(arrears_pm, setup):
    who = attrs.evolve(CUSTOMER, name='<script>alert("x")</script> & Co')
    ctx = context(setup, who=who)
    assert act(arrears_pm, ctx, who=who).done
    html = ctx.rows("outbox")[0]["body_html"]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in html
    assert "<p>Dear " in html  # the template's own markup stays


def test_line_breaks_in_the_data_never_reach_the_subject(arrears_pm, setup):
    who = attrs.evolve(CUSTOMER, name="Evil Corp\r\nBcc: victim@example.com\n\rX-Spam: 1")
    ctx = context(with_body(setup, subject="Reminder for {{ customer.name }}"), who=who)
    assert act(arrears_pm, ctx, who=who).done
    subject = ctx.rows("outbox")[0]["subject"]
    assert subject == "Reminder for Evil Corp Bcc: victim@example.com X-Spam: 1"
    assert "\r" not in subject and "\n" not in subject


def test_the_sender_is_formatted_safely(arrears_pm, setup):
    template = setup.templates["email_template"]["REMIND"]
    odd = attrs.evolve(template, sender_name='AR, "Contoso"')
    ctx = context(attrs.evolve(setup, templates={**setup.templates,
                                                 "email_template": {"REMIND": odd}}))
    assert act(arrears_pm, ctx).done
    assert ctx.rows("outbox")[0]["sender"] == '"AR, \\"Contoso\\"" <ar@example.com>'


def test_a_text_body_and_the_eligible_invoices(arrears_pm, setup):
    invoices = [INVOICE, invoice("INV-9", date(2025, 1, 20), "disputed"),
                invoice("INV-8", date(2025, 1, 25), "broken", "20.00")]
    ctx = context(with_body(
        setup, text="{% for i in invoices %}{{ i.number }}={{ i.open_amount }};{% endfor %}"
                    " {{ company.name }} {{ today }} {{ step.description }} {{ hierarchy.id }}"),
        invoices=invoices)
    assert act(arrears_pm, ctx).done
    assert ctx.rows("outbox")[0]["body_text"] == \
        "INV-2=800.00;INV-8=20.00; Contoso Ltd 2025-01-10 Pre-dunning STD"


@pytest.mark.parametrize("part, source", [("subject", "{{ customer.nope }}"),
                                          ("html", "{% if %}"), ("text", "{{ 1 / 0 }}")])
def test_a_template_error_means_not_done(arrears_pm, setup, part, source):
    ctx = context(with_body(setup, **{part: source}))
    outcome = act(arrears_pm, ctx)
    assert not outcome.done
    assert outcome.reason.startswith(f'email_template "REMIND": body.en.{part}: template error')
    assert ctx.rows("outbox") == []


def test_an_unknown_template_means_not_done(arrears_pm, setup):
    outcome = act(arrears_pm, context(setup), document="NOPE")
    assert (outcome.done, outcome.reason) == (False, 'no email_template "NOPE"')


def test_other_action_types_are_not_answered(setup):
    action = Action("C2", "STD", "First notice", "letter", "INV-2", AS_OF)
    hierarchy = setup.hierarchy("STD")
    assert emails.execute_action(action, CUSTOMER, INVOICE, hierarchy.steps[1], hierarchy,
                                 context(setup)) is None


# --- storage ---------------------------------------------------------------------------------


def test_simulation_stores_nothing(arrears_pm, setup):
    ctx = context(setup, simulate=True)
    assert act(arrears_pm, ctx).done
    assert ctx.rows("outbox") == []


def test_activities_for_automations_records_the_email(arrears_pm, setup):
    on = attrs.evolve(setup, parameters=attrs.evolve(setup.parameters,
                                                     activities_for_automations=True))
    ctx = context(on)
    assert act(arrears_pm, ctx).done
    [activity] = ctx.rows("activity")
    assert (activity["type"], activity["status"], activity["agent"]) == ("email", "closed",
                                                                         "ANNA")
    assert activity["purpose"] == \
        'Email "Invoice INV-2 is due on 2025-01-15" to billing@keycorp.example'
    assert (activity["step"], activity["template"]) == ("Pre-dunning", "REMIND")


def test_a_message_already_in_the_outbox_is_not_queued_again(arrears_pm, setup):
    on = attrs.evolve(setup, parameters=attrs.evolve(setup.parameters,
                                                     activities_for_automations=True))
    ctx = context(on)
    ctx.batch = attrs.evolve(ctx.batch, queued=frozenset({"email:STD:Pre-dunning:INV-2"}))
    outcome = act(arrears_pm, ctx)
    assert (outcome.done, outcome.recipient) == (True, "billing@keycorp.example")
    assert "already in the outbox" in outcome.reason
    assert ctx.rows("outbox") == [] and ctx.rows("activity") == []
