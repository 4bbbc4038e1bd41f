"""The ``letter`` action type: one collection letter per customer, from its letter sequence."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from arrears.core import hookimpl
from arrears.core.domain import ActionType, Setup, Step


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
