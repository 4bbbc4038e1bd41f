"""The sandbox templates render in: its quick answer for records' fields widens nothing."""

from __future__ import annotations

import inspect
from datetime import date
from decimal import Decimal

import attrs
import pytest
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
