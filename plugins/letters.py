"""The ``letter`` action type: one collection letter per customer, from its letter sequence.

The sequence logic (which code, grace period, what the letter lists) is
``arrears.core.records.post_next_letter``, shared with the standalone letter
run (``arrears letters create``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from arrears.core import hookimpl, records
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
from arrears.plugins.activities import record_contact


def check_step(step: Step, setup: Setup) -> Iterable[str]:
    if not setup.letter_sequences:
        yield "action: a letter step needs a [[letter_sequence]] to take letters from"
    elif setup.parameters.default_letter_sequence is None and len(setup.letter_sequences) > 1:
        yield ("action: a letter step needs parameters.default_letter_sequence for "
               "customers without a sequence of their own")


@hookimpl
def register_action_types(register: Callable[[ActionType], None]) -> None:
    # The letter comes from the customer's sequence, so `document` names no template.
    register(ActionType("letter", check_step=check_step))


@hookimpl(trylast=True)
def execute_action(action: Action, customer: Customer, invoice: Invoice, step: Step,
                   hierarchy: Hierarchy, context: Context) -> Outcome | None:
    """Post the customer's next letter of its sequence; *invoice* (the leading one)
    starts the first letter's grace period (``arrears.core.records.post_next_letter``)."""
    if action.action != "letter":
        return None
    outcome = records.post_next_letter(customer, invoice, context, hierarchy=hierarchy,
                                       step=step)
    if outcome.done:
        details = outcome.details
        listed = details["invoices"]
        record_contact(
            context, customer, kind="letter",
            purpose=(f"Collection letter {details['letter']} listing {len(listed)} "
                     f"invoice{'' if len(listed) == 1 else 's'}, total {details['total']} "
                     f"{details['currency']}"),
            details=", ".join(listed), invoice=invoice.number, hierarchy=hierarchy.id,
            step=step.description, template=details["letter"])
    return outcome
