"""The objects handed to hooks: frozen attrs classes, never ORM rows.

Setup objects mirror the setup file (``spec/CLI.md``); data objects mirror the
CSV files. Amounts are Decimal with their currency's decimals; dates are dates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import attrs

# --- setup -------------------------------------------------------------------


@attrs.frozen
class Parameters:
    """``[parameters]``: settings for the whole book."""

    accounting_currency: str = "USD"
    timezone: str = "UTC"
    track_step: bool = False
    history_days: int = 365
    default_letter_sequence: str | None = None
    prediction_activity: str | None = None
    prediction_very_late_days: int = 30  # paid more than this many days late is "very late"
    prediction_min_paid_invoices: int = 100  # fewer paid invoices: no payment model
    # a payment model whose held-out ROC AUC is below this is not used: it would guess
    prediction_min_roc_auc: Decimal = Decimal("0.6")
    exclude_after_last_step: bool = False
    activities_for_automations: bool = False
    letter_page_size: str = "A4"  # "A4" or "Letter": the page of rendered letters


@attrs.frozen
class Pool:
    """``[[pool]]``: a declarative selection of customers; criteria are ANDed."""

    id: str
    description: str = ""
    criteria: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Step:
    """``[[hierarchy.step]]``: one step of a process hierarchy."""

    description: str
    action: str
    when: Literal["before", "after"]
    days: int
    document: str | None = None
    pre_dunning: bool = False
    recipient: str | None = None
    contact_purpose: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def offset(self) -> int:
        """Days relative to the leading invoice's due date: negative before it."""
        return -self.days if self.when == "before" else self.days


@attrs.frozen
class Hierarchy:
    """``[[hierarchy]]``: a collections strategy bound to one pool."""

    id: str
    pool: str
    rank: int
    description: str = ""
    quiet_days: int = 0
    exclude: Mapping[str, Any] = attrs.field(factory=dict)
    use_prediction: bool = False
    steps: tuple[Step, ...] = ()

    @functools.cached_property
    def pre_dunning_step(self) -> Step | None:
        return next((s for s in self.steps if s.pre_dunning), None)

    @functools.cached_property
    def regular_steps(self) -> tuple[Step, ...]:
        """The non-pre-dunning steps, ordered by offset (worked out once: every
        customer's decision asks)."""
        return tuple(sorted((s for s in self.steps if not s.pre_dunning), key=lambda s: s.offset))


@attrs.frozen
class LetterCode:
    """One letter of a collection letter sequence; *days* are its grace days.

    *text* maps a language to the letter's own text (Jinja, HTML-escaped);
    *template*, when given, is a whole-letter Jinja HTML template replacing
    the built-in one (docs/letters.md).
    """

    code: str
    days: int
    description: str = ""
    fee: Decimal = Decimal("0")
    text: Mapping[str, str] = attrs.field(factory=dict)
    template: str | None = None


@attrs.frozen
class LetterSequence:
    """``[[letter_sequence]]``: the letters a customer gets, in order. *currency* is that
    of the letters' fees; None: each customer's own."""

    id: str
    letters: tuple[LetterCode, ...] = ()
    description: str = ""
    currency: str | None = None


@attrs.frozen
class Party:
    """A sales group or collections agent, with the address messages go to."""

    id: str
    name: str = ""
    email: str | None = None


@attrs.frozen
class Company:
    """``[company]``: who the letters come from."""

    name: str = ""
    address: str = ""


@attrs.frozen
class Setup:
    """The whole stored setup.

    *templates* maps a template section registered by an action type (such as
    ``email_template``) to its templates by id, each structured into the class
    the action type declared.
    """

    parameters: Parameters = Parameters()
    pools: tuple[Pool, ...] = ()
    hierarchies: tuple[Hierarchy, ...] = ()
    letter_sequences: tuple[LetterSequence, ...] = ()
    sales_groups: tuple[Party, ...] = ()
    collections_agents: tuple[Party, ...] = ()
    company: Company = Company()
    templates: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)

    def hierarchy(self, hierarchy_id: str) -> Hierarchy | None:
        return self._hierarchies_by_id.get(hierarchy_id)

    @functools.cached_property
    def _hierarchies_by_id(self) -> dict[str, Hierarchy]:  # asked once per customer in a run
        return {h.id: h for h in self.hierarchies}

    def pool(self, pool_id: str) -> Pool | None:
        return next((p for p in self.pools if p.id == pool_id), None)

    def template(self, section: str, template_id: str) -> Any:
        return self.templates.get(section, {}).get(template_id)


# --- what plugins declare ------------------------------------------------------


@attrs.frozen
class ActionType:
    """An action type a step may name, declared through ``register_action_types``.

    :param name: the name steps use in ``action = "…"``.
    :param template_section: the setup section (an array of tables with ``id``)
        whose ids the step's ``document`` must name, or None if steps name none.
    :param template_class: the attrs class each entry of that section is
        structured into (its fields are the keys the section accepts).
    :param step_options: extra step keys this action type accepts, beyond the
        ones every step has.
    :param required_step_options: extra step keys its steps must give (accepted
        without being listed in *step_options* too).
    :param check_step: ``(step, setup) -> problems`` for rules of its own.
    :param check_template: ``(template, setup) -> problems`` for each template.
    :param check_setup: ``(setup) -> problems`` for rules across the setup
        (a parameter naming one of its templates, say).
    """

    name: str
    template_section: str | None = None
    template_class: type | None = None
    step_options: tuple[str, ...] = ()
    required_step_options: tuple[str, ...] = ()
    check_step: Callable[[Step, Setup], Iterable[str]] | None = None
    check_template: Callable[[Any, Setup], Iterable[str]] | None = None
    check_setup: Callable[[Setup], Iterable[str]] | None = None


@attrs.frozen
class SetupOption:
    """A pool criterion or exclusion rule, declared by a plugin.

    :param name: the key in ``[[pool]]`` or in a hierarchy's ``exclude``.
    :param parse: turns the TOML value into the stored value; raises
        ValueError with a message naming what was expected.
    :param unparse: turns the stored value back into its TOML form (for
        ``setup show``); by default the stored value itself.
    :param check: ``(value, setup) -> problems`` for references into the
        rest of the setup (a sales group that must exist, say).
    :param description: one line for documentation.
    """

    name: str
    parse: Callable[[Any], Any]
    unparse: Callable[[Any], Any] = attrs.field(default=lambda value: value)
    check: Callable[[Any, Setup], Iterable[str]] | None = None
    description: str = ""


# --- data ----------------------------------------------------------------------

COLLECTIONS_STATUSES = ("none", "disputed", "promised", "resolved", "broken")
SKIP_STATUSES = ("disputed", "promised")  # invoices in these statuses are left alone (§2)


@attrs.frozen
class Customer:
    account: str
    name: str
    currency: str
    customer_group: str | None = None
    country: str | None = None
    language: str | None = None
    sales_group: str | None = None
    collections_agent: str | None = None
    letter_sequence: str | None = None
    credit_limit: Decimal | None = None
    address: str | None = None  # postal address, lines separated by newlines
    id: int | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Contact:
    customer: str
    email: str
    purpose: str
    name: str | None = None
    phone: str | None = None


@attrs.frozen
class Invoice:
    number: str
    customer: str
    invoice_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal
    currency: str
    status: str = "none"
    promised_date: date | None = None
    id: int | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Payment:
    """A payment received against one of the customer's invoices (paid or open)."""

    invoice: str
    customer: str
    date: date
    amount: Decimal
    currency: str
    reference: str = ""


# --- answers -------------------------------------------------------------------


@attrs.frozen
class Assignment:
    """Which hierarchy a customer follows and why (``manual``, ``pool:<ID>``, ``none``)."""

    customer: str
    hierarchy: str | None
    reason: str


# --- the run (SEMANTICS.md §3–§6) ------------------------------------------------


@attrs.frozen
class StepRun:
    """A step already done for an invoice under a hierarchy, and when."""

    hierarchy: str
    step: str
    invoice: str
    date: date


@attrs.frozen
class Action:
    """An action a run decides on: the JSON ``actions`` entry of CLI.md."""

    customer: str
    hierarchy: str
    step: str
    action: str
    invoice: str | None
    date: date
    document: str | None = None
    recipient: str | None = None


@attrs.frozen
class Outcome:
    """What ``execute_action`` did: done, or not possible and why (retried next run).

    *document* and *recipient*, when given, replace the action's own (a letter
    names the letter code it posted); *details* are shown by ``explain``.
    """

    done: bool
    reason: str = ""
    recipient: str | None = None
    document: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class StepChoice:
    """What ``choose_step`` decided: the step to run, or none and why.

    With *hold*, *step* is due but may not run today (quiet days): the
    history records it as ``skipped`` with *reason*. A None *step* means
    nothing is due, which is not recorded (``explain`` shows *reason*).
    *passed_over* names earlier steps skipped because a later one is due.
    *waiting* names the step that would run but must wait (a None *step*), for
    ``explain`` to show it as waiting with *reason*.
    """

    step: Step | None
    reason: str = ""
    hold: bool = False
    passed_over: tuple[str, ...] = ()
    waiting: str | None = None


PREDICTED_OUTCOMES = ("on_time", "late", "very_late")


def _outcome(instance: Any, attribute: Any, value: str) -> None:
    if value not in PREDICTED_OUTCOMES:
        raise ValueError(f"outcome: expected one of {', '.join(PREDICTED_OUTCOMES)}, "
                         f"got {value!r}")


def _probability(instance: Any, attribute: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"probability: expected a number from 0 to 1, got {value!r}")


@attrs.frozen
class Prediction:
    """What ``predict_payment`` expects of an open invoice (SEMANTICS.md §5).

    *outcome* is ``on_time`` (paid by its due date), ``late`` or ``very_late``
    (more than ``parameters.prediction_very_late_days`` days late);
    *probability* is the chance of that outcome, from 0 to 1; *model* says
    what predicted it, for the history (``payment model 3 of 2025-01-10``).
    """

    outcome: Literal["on_time", "late", "very_late"] = attrs.field(validator=_outcome)
    probability: float = attrs.field(converter=float, validator=_probability)
    model: str | None = None

    @property
    def late(self) -> bool:
        """Predicted to be paid after its due date (late or very late)."""
        return self.outcome != "on_time"


@attrs.frozen
class PostedLetter:
    """A collection letter already posted, as the letter sequence sees it."""

    sequence: str
    code: str
    position: int
    date: date
    invoices: frozenset[str]


@attrs.frozen
class LetterDocument:
    """A posted collection letter to render through ``render_document``.

    *letter* is the posted letter as ``arrears letters`` lists it (an
    :class:`arrears.core.records.LetterRow`: its invoice lines, total and fee);
    *code* and *sequence* are the setup's, or None when the setup no longer
    has them; *page_size* is ``parameters.letter_page_size``.
    """

    letter: Any
    customer: Customer
    company: Company
    code: LetterCode | None = None
    sequence: LetterSequence | None = None
    page_size: str = "A4"


@attrs.frozen
class HistoryEntry:
    """One decision, as ``arrears history`` lists it."""

    date: date
    kind: Literal["action", "skipped", "excluded", "failed", "status"]
    reason: str
    customer: str | None = None
    hierarchy: str | None = None
    invoice: str | None = None
    step: str | None = None
    run: int | None = None


# --- delivery (the outbox sender) --------------------------------------------------


@attrs.frozen
class Message:
    """An outbox message handed to ``deliver_messages``, already claimed for sending.

    *sender* is a formatted address (``"Name <address>"``); *message_id* is
    the stable ``<arrears.ID.DATABASE@domain>`` a receiving system can use to
    recognise a repeat; *attempts* counts this one.
    """

    id: int
    customer: str
    channel: str
    recipient: str
    sender: str | None
    subject: str
    body_html: str
    body_text: str
    language: str | None
    message_id: str
    attempts: int


@attrs.frozen
class Delivery:
    """What became of one attempt to deliver a :class:`Message`.

    ``sent``: handed over and accepted. ``retry``: not handed over (a temporary
    refusal, a lost connection before the data); the message goes back to the
    queue. ``failed``: refused for good. ``uncertain``: the receiver may or may
    not have it (the connection dropped during the data); never re-sent without
    ``arrears outbox retry``. *detail* is the server's reply or the error,
    without secrets.
    """

    status: Literal["sent", "retry", "failed", "uncertain"]
    detail: str = ""
