"""The ``activity`` action (SEMANTICS.md §5) and the closed activities that record
contacts when ``activities_for_automations`` is on (§3)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import attrs
import pytest

from arrears.core.book import Batch
from arrears.core.context import Rates
from arrears.core.domain import Action, Customer, Invoice
from arrears.core.testing import RecordingContext
from arrears.plugins import activities

AS_OF = date(2025, 1, 18)


CUSTOMER = Customer("C1", "Nordic Key AB", "SEK", collections_agent="ANNA", id=7)
INVOICE = Invoice("INV-1", "C1", date(2024, 12, 16), date(2025, 1, 15), Decimal("1000.00"),
                  Decimal("1000.00"), "SEK", id=3)


def context(setup: Any, *, simulate: bool = False, who: Customer = CUSTOMER) -> RecordingContext:
    batch = Batch([who], {who.account: [INVOICE]}, {}, {}, {}, {}, {"INV-1": 3})
    return RecordingContext(as_of=AS_OF, setup=setup, rates=Rates("USD"), simulate=simulate,
                     batch=batch, run_id=12)


def act(pm: Any, ctx: RecordingContext, who: Customer = CUSTOMER, hierarchy: str = "KEYACC",
        step: str = "Call") -> Any:
    found = ctx.setup.hierarchy(hierarchy)
    chosen = next(s for s in found.steps if s.description == step)
    action = Action(who.account, found.id, chosen.description, chosen.action, INVOICE.number,
                    ctx.as_of, chosen.document)
    return pm.hook.execute_action(action=action, customer=who, invoice=INVOICE, step=chosen,
                                  hierarchy=found, context=ctx)


def with_details(setup: Any, details: str) -> Any:
    call = attrs.evolve(setup.templates["activity_template"]["CALL"], details=details)
    return attrs.evolve(setup, templates={**setup.templates,
                                          "activity_template": {"CALL": call}})


def test_an_activity_from_its_template(arrears_pm, setup):
    ctx = context(setup)
    outcome = act(arrears_pm, ctx)
    assert (outcome.done, outcome.recipient, outcome.document) == (True, "ANNA", "CALL")
    [row] = ctx.rows("activity")
    assert row == {
        "customer_id": 7, "invoice_id": 3, "run_id": 12, "hierarchy": "KEYACC", "step": "Call",
        "template": "CALL", "type": "call", "purpose": "Collect overdue balance",
        "details": "Call Nordic Key AB about INV-1", "agent": "ANNA",
        "due_date": date(2025, 1, 20), "status": "open", "created": AS_OF, "closed": None}


def test_details_see_the_company_the_date_the_step_and_the_hierarchy(arrears_pm, setup):
    ctx = context(with_details(
        setup, "{{ company.name }} {{ today }} {{ step.description }} {{ hierarchy.id }} "
               "{{ invoice.open_amount }} {{ invoice.currency }}"))
    assert act(arrears_pm, ctx).done
    assert ctx.rows("activity")[0]["details"] == \
        "Contoso Ltd 2025-01-18 Call KEYACC 1000.00 SEK"


def test_details_are_not_html_escaped(arrears_pm, setup):
    ctx = context(setup, who=attrs.evolve(CUSTOMER, name="Smith & <Sons>"))
    act(arrears_pm, ctx, who=attrs.evolve(CUSTOMER, name="Smith & <Sons>"))
    assert ctx.rows("activity")[0]["details"] == "Call Smith & <Sons> about INV-1"


def test_a_customer_without_an_agent_gets_an_unassigned_activity(arrears_pm, setup):
    nobody = attrs.evolve(CUSTOMER, collections_agent=None)
    ctx = context(setup, who=nobody)
    outcome = act(arrears_pm, ctx, who=nobody)
    assert outcome.done and outcome.recipient is None
    assert ctx.rows("activity")[0]["agent"] is None


@pytest.mark.parametrize("details, problem", [
    ("{{ customer.nickname }}", "has no attribute 'nickname'"),
    ("{{ customer.__class__.__mro__ }}", "template error"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
])
def test_a_template_that_fails_to_render_means_not_done(arrears_pm, setup, details, problem):
    ctx = context(with_details(setup, details))
    outcome = act(arrears_pm, ctx)
    assert not outcome.done
    assert outcome.reason.startswith('activity_template "CALL": details: template error')
    assert problem in outcome.reason
    assert ctx.rows("activity") == []


def test_an_unknown_template_means_not_done(arrears_pm, setup):
    ctx = context(attrs.evolve(setup, templates={**setup.templates, "activity_template": {}}))
    outcome = act(arrears_pm, ctx)
    assert (outcome.done, outcome.reason) == (False, 'no activity_template "CALL"')


def test_other_action_types_are_not_answered(setup):
    action = Action("C1", "STD", "First notice", "letter", "INV-1", AS_OF)
    found = setup.hierarchy("STD")
    assert activities.execute_action(action, CUSTOMER, INVOICE, found.steps[1], found,
                                     context(setup)) is None


def test_simulation_stores_nothing(arrears_pm, setup):
    ctx = context(setup, simulate=True)
    assert act(arrears_pm, ctx).done
    assert ctx.rows("activity") == []


def test_record_contact_only_with_activities_for_automations(setup):
    ctx = context(setup)
    arguments = dict(kind="email", purpose="Email sent", details="d", invoice="INV-1",
                     hierarchy="STD", step="Pre-dunning", template="REMIND")
    activities.record_contact(ctx, CUSTOMER, **arguments)
    assert ctx.rows("activity") == []
    on = attrs.evolve(setup, parameters=attrs.evolve(setup.parameters,
                                                     activities_for_automations=True))
    ctx = context(on)
    activities.record_contact(ctx, CUSTOMER, **arguments)
    assert ctx.rows("activity") == [{
        "customer_id": 7, "invoice_id": 3, "run_id": 12, "hierarchy": "STD",
        "step": "Pre-dunning", "template": "REMIND", "type": "email", "purpose": "Email sent",
        "details": "d", "agent": "ANNA", "due_date": AS_OF, "status": "closed",
        "created": AS_OF, "closed": AS_OF}]
