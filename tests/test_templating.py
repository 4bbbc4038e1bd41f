"""The sandbox templates render in: its quick answer for records' fields widens nothing."""

from __future__ import annotations

import inspect
from datetime import date
from decimal import Decimal

import attrs
import pytest
from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from arrears.core import context, domain, templating
from arrears.core.domain import Customer, Invoice

RECORDS = [cls for module in (domain, context)
           for _, cls in inspect.getmembers(module, inspect.isclass)
           if attrs.has(cls) and cls.__module__ == module.__name__]

CUSTOMER = Customer("C1", "Smith & Sons", "USD", collections_agent="ANNA")
INVOICES = [Invoice(f"INV-{n}", "C1", date(2025, 1, 1), date(2025, 1, n), Decimal("12.50"),
                    Decimal("2.50"), "USD") for n in (1, 2)]
VALUES = {"customer": CUSTOMER, "invoices": INVOICES, "invoice": INVOICES[0],
          "today": date(2025, 1, 18)}


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_each_field_read_at_once_is_one_jinja_allows_too(cls):
    record = cls.__new__(cls)  # Jinja's checks look at the type and the name only
    fields = templating.record_fields(cls)
    assert fields, f"{cls.__name__} gets no quick answer"
    jinja = ImmutableSandboxedEnvironment()
    assert [name for name in fields if not jinja.is_safe_attribute(record, name, None)] == []


def test_a_record_that_is_a_container_or_a_type_gets_no_quick_answer():
    @attrs.define
    class Lines(list):  # type: ignore[type-arg]
        append: int = 0

    @attrs.define(slots=False)
    class Kind(type):
        mro: int = 0

    assert templating.record_fields(Lines) == frozenset()
    assert templating.record_fields(Kind) == frozenset()
    assert templating.record_fields(dict) == frozenset()


def test_templates_read_records_fields():
    text = templating.render(
        "{{ customer.name }}: {% for i in invoices if i.due_date < today %}{{ i.number }} "
        "{{ i.open_amount }} {{ i.currency }}; {% endfor %}{{ customer.collections_agent }}",
        VALUES, html=True)
    assert text == "Smith &amp; Sons: INV-1 2.50 USD; INV-2 2.50 USD; ANNA"


@pytest.mark.parametrize("source", [
    "{{ customer.__class__ }}",
    "{{ customer.__init__.__globals__ }}",
    "{{ customer._private }}",
    "{{ invoices.append(1) }}",
    "{{ invoices.pop() }}",
    "{{ invoice.__class__.__mro__ }}",
])
def test_what_the_sandbox_refused_it_still_refuses(source):
    with pytest.raises((SecurityError, templating.TemplateError)):
        templating.render(source, VALUES)
    assert len(INVOICES) == 2


@pytest.mark.parametrize(("source", "problem"), [
    ("{{ 'a' * 4 * 10**8 }}", "repeating makes more than 100,000 items"),
    ("{{ [0] * 200000 }}", "repeating makes more than 100,000 items"),
    ("{{ 10 ** 5000 }}", "an exponent above 1000 (5000)"),
    ("{% for x in range(100000) %}{% for y in range(100000) %}{% endfor %}{% endfor %}",
     "the template's loops take more than 1,000,000 numbers from range()"),
])
def test_a_template_cannot_make_the_machine_run_out(source, problem):
    """Checked (compiled) at once, without folding the constant; rendering fails fast."""
    import time

    started = time.monotonic()
    assert templating.check(source) is None
    with pytest.raises(TemplateError) as failed:
        templating.render(source, {})
    assert problem in templating.problem(failed.value)
    assert time.monotonic() - started < 5  # not minutes, not gigabytes


def test_what_templates_do_with_numbers_and_loops_still_works():
    source = ("{{ '-' * 40 }}|{{ 2 ** 10 }}|{{ 3 * 4 }}|"
              "{% for i in range(3) %}{% for j in range(1000) %}{% endfor %}{{ i }}{% endfor %}")
    assert templating.render(source, {}) == "-" * 40 + "|1024|12|012"
    for _ in range(30):  # the budget is each rendering's own
        assert templating.render("{% for i in range(100000) %}{% endfor %}ok", {}) == "ok"
