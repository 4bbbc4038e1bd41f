"""Which regular step runs (SEMANTICS.md §3 and §7): the closest step, or with
track step the next one in order keeping its spacing; quiet days hold both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from arrears.core import hookimpl
from arrears.core.context import Context
from arrears.core.domain import Customer, Hierarchy, Invoice, StepChoice, StepRun


def _closest(hierarchy: Hierarchy, leading: Invoice, done: Sequence[StepRun],
             context: Context) -> StepChoice:
    past_due = (context.as_of - leading.due_date).days
    due = [s for s in hierarchy.regular_steps if s.offset <= past_due]
    if not due:
        first = hierarchy.regular_steps[0] if hierarchy.regular_steps else None
        return StepChoice(None, f"no step due yet: {first.description} is due on "
                          f"{leading.due_date + timedelta(days=first.offset)}" if first else
                          "the hierarchy has no regular step")
    step = due[-1]
    ran = {r.step: r.date for r in done}
    if step.description in ran:
        return StepChoice(None, f"{step.description} already ran for {leading.number} on "
                          f"{ran[step.description]}")
    passed = tuple(s.description for s in due[:-1] if s.description not in ran)
    return StepChoice(step, passed_over=passed)


def _next_in_order(hierarchy: Hierarchy, leading: Invoice, done: Sequence[StepRun],
                   context: Context) -> StepChoice:
    regular = hierarchy.regular_steps
    ran = {r.step: r for r in done}
    pending = [s for s in regular if s.description not in ran]
    if not pending:
        return StepChoice(None, f"every step has run for {leading.number}")
    step = pending[0]
    due = leading.due_date + timedelta(days=step.offset)
    if context.as_of < due:
        return StepChoice(None, f"{step.description} is due on {due}",
                          waiting=step.description)
    previous = max(done, key=lambda r: r.date, default=None)
    if previous is not None:
        before = next(s for s in regular if s.description == previous.step)
        ready = previous.date + timedelta(days=step.offset - before.offset)
        if context.as_of < ready:
            return StepChoice(None, f"{step.description} waits until {ready}: "
                              f"{step.offset - before.offset} days after {previous.step} "
                              f"of {previous.date}", waiting=step.description)
    return StepChoice(step)


@hookimpl(trylast=True)
def choose_step(customer: Customer, hierarchy: Hierarchy, leading: Invoice,
                done: Sequence[StepRun], context: Context) -> StepChoice:
    rule = _next_in_order if context.setup.parameters.track_step else _closest
    choice = rule(hierarchy, leading, done, context)
    last = context.last_contact(customer)
    if choice.step is not None and last is not None and \
            0 < (context.as_of - last).days < hierarchy.quiet_days:
        until = last + timedelta(days=hierarchy.quiet_days)
        return StepChoice(choice.step, f"held by quiet days: last contact on {last}, "
                          f"no contact before {until}", hold=True)
    return choice
