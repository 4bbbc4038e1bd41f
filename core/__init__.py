"""arrears.core: the kernel. What plugins import: the hook markers, the domain
types handed to and returned from hooks, and the errors a user may see."""

from arrears.core.domain import (
    Action,
    ActionType,
    Contact,
    Customer,
    Delivery,
    Hierarchy,
    HistoryEntry,
    Invoice,
    Message,
    Outcome,
    Payment,
    Pool,
    Prediction,
    Setup,
    SetupOption,
    Step,
    StepChoice,
    StepRun,
)
from arrears.core.errors import ArrearsError, BadInput
from arrears.core.hookspecs import hookimpl, hookspec

__all__ = [
    "Action",
    "ActionType",
    "ArrearsError",
    "BadInput",
    "Contact",
    "Customer",
    "Delivery",
    "Hierarchy",
    "HistoryEntry",
    "Invoice",
    "Message",
    "Outcome",
    "Payment",
    "Pool",
    "Prediction",
    "Setup",
    "SetupOption",
    "Step",
    "StepChoice",
    "StepRun",
    "hookimpl",
    "hookspec",
]
