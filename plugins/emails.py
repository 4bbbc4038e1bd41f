"""The ``email`` action type: a message rendered from a template, queued in the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import attrs

from arrears.core import hookimpl, templating
from arrears.core.domain import ActionType, Setup, Step

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
    if "@" not in template.sender_email or any(c in template.sender_email for c in "\r\n<>"):
        yield f'sender_email: "{template.sender_email}" is not an email address'
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


@hookimpl
def register_action_types(register: Callable[[ActionType], None]) -> None:
    register(ActionType("email", SECTION, EmailTemplate,
                        step_options=("recipient", "contact_purpose"),
                        check_step=check_step, check_template=check_template))
