"""The ``activity`` action type: a collection activity for an agent (SEMANTICS.md §5).

Also the helpers the other built-in actions share: the values templates are
rendered with (:func:`template_values`) and the closed activity that records a
contact when ``parameters.activities_for_automations`` is on (:func:`record_contact`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import attrs

from arrears.core import hookimpl, templating
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

SECTION = "activity_template"


@attrs.frozen
class ActivityTemplate:
    """``[[activity_template]]``: what the activity says and when it is due."""

    id: str
    type: str
    purpose: str = ""
    days_to_complete: int = 0
    details: str = ""
    description: str = ""


def check_template(template: ActivityTemplate, setup: Setup) -> Iterable[str]:
    if template.days_to_complete < 0:
        yield f"days_to_complete: expected 0 or more, got {template.days_to_complete}"
    if problem := templating.check(template.details):
        yield f"details: {problem}"


def check_setup(setup: Setup) -> Iterable[str]:
    wanted = setup.parameters.prediction_activity
    if wanted is not None and wanted not in setup.templates.get(SECTION, {}):
        yield f'parameters: prediction_activity: no {SECTION} "{wanted}"'


@hookimpl
def register_action_types(register: Callable[[ActionType], None]) -> None:
    register(ActionType("activity", SECTION, ActivityTemplate,
                        check_template=check_template, check_setup=check_setup))


# --- helpers shared by the built-in actions ----------------------------------------------


def template_values(customer: Customer, invoice: Invoice, step: Step | None,
                    hierarchy: Hierarchy | None, context: Context,
                    **more: Any) -> dict[str, Any]:
    """What every template sees: ``customer``, ``invoice``, ``step``, ``hierarchy``,
    ``company`` (the setup's ``[company]``) and ``today`` (the run date), plus *more*."""
    return {"customer": customer, "invoice": invoice, "step": step, "hierarchy": hierarchy,
            "company": context.setup.company, "today": context.as_of, **more}


def record_contact(context: Context, customer: Customer, *, kind: str, purpose: str,
                   details: str = "", invoice: str | None, hierarchy: str | None,
                   step: str | None, template: str | None) -> None:
    """Record a contact already made (an email sent, a letter posted) as a closed activity.

    Does nothing unless ``parameters.activities_for_automations`` is on
    (SEMANTICS.md §3); the activity is of type *kind* (``email``, ``letter``),
    assigned to the customer's collections agent, due and closed on the run date.
    """
    if not context.setup.parameters.activities_for_automations:
        return
    context.create_activity(
        customer, invoice=invoice, hierarchy=hierarchy, step=step, template=template,
        type=kind, purpose=purpose, details=details, agent=customer.collections_agent,
        due_date=context.as_of, closed=True)


def create_from_template(template: ActivityTemplate, customer: Customer, invoice: Invoice,
                         context: Context, *, hierarchy: Hierarchy | None,
                         step: Step | None) -> Outcome:
    """Create an open activity from *template* for *invoice*, assigned to the
    customer's collections agent and due *days_to_complete* after the run date."""
    values = template_values(customer, invoice, step, hierarchy, context)
    try:
        details = templating.render(template.details, values)
    except Exception as error:  # any failure of a user's template: not done, retried
        return Outcome(False, f'{SECTION} "{template.id}": details: {templating.problem(error)}',
                       document=template.id)
    agent = customer.collections_agent
    context.create_activity(
        customer, invoice=invoice.number, hierarchy=hierarchy.id if hierarchy else None,
        step=step.description if step else None, template=template.id, type=template.type,
        purpose=template.purpose, details=details, agent=agent,
        due_date=context.as_of + timedelta(days=template.days_to_complete))
    return Outcome(True, recipient=agent, document=template.id)


# --- the action ------------------------------------------------------------------------------


@hookimpl(trylast=True)
def execute_action(action: Action, customer: Customer, invoice: Invoice, step: Step,
                   hierarchy: Hierarchy, context: Context) -> Outcome | None:
    if action.action != "activity":
        return None
    template = context.setup.template(SECTION, step.document) if step.document else None
    if template is None:
        return Outcome(False, f'no {SECTION} "{step.document}"', document=step.document)
    return create_from_template(template, customer, invoice, context, hierarchy=hierarchy,
                                step=step)
