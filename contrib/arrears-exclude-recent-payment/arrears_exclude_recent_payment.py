"""arrears-exclude-recent-payment: leave a customer alone for a while after they paid.

A hierarchy with ``exclude = { recent_payment_days = 10 }`` skips, on each run, a
customer with a payment dated 10 days before the run date or later (a payment
against any of its invoices); the history records the payment as the reason.
"""

from datetime import timedelta

from arrears.core import SetupOption, hookimpl
from arrears.core.options import positive


@hookimpl
def register_exclusion_rules(register):
    register(SetupOption("recent_payment_days", positive, description=(
        "skip the customer when it paid anything in the last N days")))


@hookimpl
def exclude_customer(customer, hierarchy, context):
    days = hierarchy.exclude.get("recent_payment_days")
    if days is None:
        return None
    since = context.as_of - timedelta(days=days)
    recent = [p for p in context.payments(customer) if p.date >= since]
    if not recent:
        return None
    last = recent[-1]
    return (f"paid {last.amount} {last.currency} on {last.date} against {last.invoice}, "
            f"within the last {days} days")
