"""arrears-sms: text-message reminders through an HTTP gateway.

A step with ``action = "sms"`` queues a text rendered from an ``[[sms_template]]``
to the phone of the customer's contact with the step's ``contact_purpose``;
``arrears outbox send`` POSTs it as JSON to ``$ARREARS_SMS_URL`` with the bearer
token ``$ARREARS_SMS_TOKEN``.
"""

import json
import os
from http.client import HTTPException
from urllib import request

import attrs

from arrears.core import ActionType, BadInput, Delivery, Outcome, hookimpl, templating


@attrs.frozen
class SmsTemplate:
    id: str
    default_language: str
    text: dict[str, str]
    max_length: int = 160


def check_template(template, setup):
    if template.default_language not in template.text:
        yield f'default_language: no text for "{template.default_language}"'
    for language, text in template.text.items():
        if len(text) > template.max_length:
            yield f"text.{language}: {len(text)} characters, over max_length {template.max_length}"
        if problem := templating.check(text):
            yield f"text.{language}: {problem}"


@hookimpl
def register_action_types(register):
    register(ActionType("sms", "sms_template", SmsTemplate, check_template=check_template,
                        required_step_options=("contact_purpose",)))


@hookimpl
def execute_action(action, customer, invoice, step, hierarchy, context):
    if action.action != "sms":
        return None
    template = context.setup.template("sms_template", step.document)
    phones = [c.phone for c in context.contacts(customer, step.contact_purpose) if c.phone]
    if not phones:
        return Outcome(False, f'no contact with purpose "{step.contact_purpose}" and a phone')
    language = templating.language(customer.language, template.text, template.default_language)
    values = {"customer": customer, "invoice": invoice}
    try:
        text = templating.render(template.text[language], values)
    except Exception as error:  # a user's template: this step is not possible, the run goes on
        return Outcome(False, f'sms_template "{template.id}": text.{language}: '
                       f"{templating.problem(error)}", document=template.id)
    if len(text) > template.max_length:
        return Outcome(False, f"the text is {len(text)} characters, over {template.max_length}")
    context.queue_message(customer, channel="sms", recipient=phones[0], body_text=text,
                          dedupe_key=f"sms:{hierarchy.id}:{step.description}:{invoice.number}",
                          template=template.id, language=language, invoice=invoice.number,
                          hierarchy=hierarchy.id, step=step.description)
    return Outcome(True, recipient=phones[0], document=template.id)


@hookimpl
def deliver_messages(channel, messages, report, settings):
    if channel != "sms":
        return None
    if not (url := os.environ.get("ARREARS_SMS_URL")):
        raise BadInput("ARREARS_SMS_URL: not set: the SMS gateway's URL")
    headers = {"Content-Type": "application/json",
               "Authorization": f"Bearer {os.environ.get('ARREARS_SMS_TOKEN', '')}"}
    for message in messages:
        body = {"to": message.recipient, "text": message.body_text, "reference": message.message_id}
        post = request.Request(url, json.dumps(body).encode(), headers, method="POST")
        try:
            with request.urlopen(post, timeout=10):
                report(message, Delivery("sent"))
        except (OSError, HTTPException) as problem:  # an HTTPError, no gateway, a timeout
            refused = 400 <= getattr(problem, "code", 0) < 500 and problem.code not in (408, 429)
            report(message, Delivery("failed" if refused else "retry", str(problem)))
            if not refused:  # the gateway is in trouble: the rest stay queued for the next send
                break
    return True
