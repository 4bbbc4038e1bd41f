"""The ``email`` action type: a message rendered from a template, queued in the outbox.

The message is rendered in the customer's language when the template has a
body for it, else in the template's default language: the subject as plain
text on one line (line breaks from the data become spaces, so nothing reaches
a mail header unescaped), the HTML body with autoescaping, the text body
without. A template without a text body gets one derived from the rendered
HTML by the sender (``templating.plain_text``), so every message has both
parts. It goes to the outbox under a key made of hierarchy, step and
invoice, so it is queued once whatever reruns happen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from email.utils import formataddr

import attrs

from arrears.core import hookimpl, options, templating
from arrears.core.context import Context
from arrears.core.domain import (
    Action,
    ActionType,
    Customer,
    Hierarchy,
    Invoice,
    Outcome,
    Setup,
    Step,
)
from arrears.plugins.activities import record_contact, template_values

SECTION = "email_template"
RECIPIENTS = ("customer", "sales_group", "collections_agent")


@attrs.frozen
class EmailBody:
    """One language of an email template; *html* inline or read from a file."""

    subject: str
    html: str
    text: str | None = None


@attrs.frozen
class EmailTemplate:
    """``[[email_template]]``: sender and bodies by language."""

    id: str
    default_language: str
    sender_email: str
    body: Mapping[str, EmailBody]
    sender_name: str = ""
    description: str = ""


def check_template(template: EmailTemplate, setup: Setup) -> Iterable[str]:
    if template.default_language not in template.body:
        yield (f'default_language: no body for "{template.default_language}" '
               f"(bodies: {', '.join(sorted(template.body)) or 'none'})")
    try:
        options.email(template.sender_email)
    except ValueError as error:
        yield f"sender_email: {error}"
    if any(c in template.sender_name for c in "\r\n"):
        yield "sender_name: may not contain line breaks"
    for language, body in template.body.items():
        for part, source, html in (("subject", body.subject, False), ("html", body.html, True),
                                   ("text", body.text, False)):
            if source is not None and (problem := templating.check(source, html=html)):
                yield f"body.{language}.{part}: {problem}"


def check_step(step: Step, setup: Setup) -> Iterable[str]:
    if step.recipient is None:
        yield f"recipient: is required: one of {', '.join(RECIPIENTS)}"
    elif step.recipient not in RECIPIENTS:
        yield f'recipient: expected one of {", ".join(RECIPIENTS)}, got "{step.recipient}"'
    elif step.recipient == "customer" and step.contact_purpose is None:
        yield 'contact_purpose: is required when recipient is "customer"'
    elif step.recipient != "customer" and step.contact_purpose is not None:
        yield (f'contact_purpose: is used only when recipient is "customer" (the '
               f'{step.recipient} has its address in the setup)')


@hookimpl
def register_action_types(register: Callable[[ActionType], None]) -> None:
    register(ActionType("email", SECTION, EmailTemplate,
                        step_options=("recipient", "contact_purpose"),
                        check_step=check_step, check_template=check_template))


# --- the action ------------------------------------------------------------------------------

PARTY_NAMES = {"sales_group": "sales group", "collections_agent": "collections agent"}
LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")


def one_line(text: str) -> str:
    """*text* with every line break (and the blanks around it) made one space."""
    return LINE_BREAKS.sub(" ", text).strip()


def recipient_address(customer: Customer, step: Step, context: Context) -> tuple[str | None, str]:
    """The address the step's message goes to, or None and why (SEMANTICS.md §7).

    ``customer``: the first contact, in import order, with the step's contact
    purpose; ``sales_group`` and ``collections_agent``: the setup's address of
    the customer's one.
    """
    if step.recipient == "customer":
        purpose = step.contact_purpose
        for contact in context.contacts(customer, purpose):
            if contact.email:
                return contact.email, ""
        return None, f'no contact with purpose "{purpose}"'
    if step.recipient in PARTY_NAMES:
        name = PARTY_NAMES[step.recipient]
        party_id = getattr(customer, step.recipient)
        if party_id is None:
            return None, f"customer {customer.account} has no {name}"
        party = context.party(step.recipient, party_id)
        if party is None:
            return None, f'{name} "{party_id}" is not in the setup'
        if not party.email:
            return None, f'{name} "{party_id}" has no email address'
        return party.email, ""
    return None, f'recipient "{step.recipient}" is not one of {", ".join(RECIPIENTS)}'


@hookimpl(trylast=True)
def execute_action(action: Action, customer: Customer, invoice: Invoice, step: Step,
                   hierarchy: Hierarchy, context: Context) -> Outcome | None:
    if action.action != "email":
        return None
    template = context.setup.template(SECTION, step.document) if step.document else None
    if template is None:
        return Outcome(False, f'no {SECTION} "{step.document}"', document=step.document)
    address, problem = recipient_address(customer, step, context)
    if address is None:
        return Outcome(False, problem, document=template.id)
    try:
        options.email(address)  # a contact stored before imports checked this, say
    except ValueError:
        return Outcome(False, f'"{one_line(address)}" is not an email address',
                       document=template.id)
    dedupe_key = f"email:{hierarchy.id}:{step.description}:{invoice.number}"
    if context.message_queued(dedupe_key):
        return Outcome(True, f"email {template.id} to {address} was already in the outbox",
                       recipient=address, document=template.id)

    language = templating.language(customer.language, template.body, template.default_language)
    body = template.body[language]
    values = template_values(customer, invoice, step, hierarchy, context,
                             invoices=context.eligible_invoices(customer),
                             language=language)
    rendered = {}
    for part, source, html in (("subject", body.subject, False), ("html", body.html, True),
                               ("text", body.text, False)):
        try:
            rendered[part] = templating.render(source, values, html=html) if source else ""
        except Exception as error:  # any failure of a user's template: not done, retried
            return Outcome(False, f'{SECTION} "{template.id}": body.{language}.{part}: '
                           f"{templating.problem(error)}", document=template.id)
    subject = one_line(rendered["subject"])
    # Without a text body, the sender derives the plain part from the HTML when it builds
    # the message (templating.plain_text): not in the run, where it would cost per email.
    text = rendered["text"] if body.text else ""
    context.queue_message(
        customer, channel="email", dedupe_key=dedupe_key, recipient=address, subject=subject,
        body_html=rendered["html"], body_text=text,
        sender=formataddr((one_line(template.sender_name), template.sender_email)),
        template=template.id, language=language, invoice=invoice.number,
        hierarchy=hierarchy.id, step=step.description)
    record_contact(context, customer, kind="email", purpose=f'Email "{subject}" to {address}',
                   details=f"{SECTION} {template.id} ({language})", invoice=invoice.number,
                   hierarchy=hierarchy.id, step=step.description, template=template.id)
    return Outcome(True, recipient=address, document=template.id)
