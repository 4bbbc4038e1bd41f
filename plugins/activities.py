"""The ``activity`` action type: a collection activity for an agent (SEMANTICS.md §5)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from arrears.core import hookimpl, templating
from arrears.core.domain import ActionType, Setup

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
