"""Every hook of arrears, and nothing else.

Hooks are called with keyword arguments. Implementations may accept fewer
arguments than the spec. The built-in implementations live in
``arrears.plugins`` and are registered through the ``arrears`` entry-point
group, like a third party's; built-ins of firstresult hooks are ``trylast``,
so an installed plugin answers first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    import click
    from sqlalchemy import Connection

    from arrears.core.context import Context
    from arrears.core.domain import (
        Action,
        ActionType,
        Customer,
        Delivery,
        Hierarchy,
        HistoryEntry,
        Invoice,
        Message,
        Outcome,
        Pool,
        Prediction,
        Setup,
        SetupOption,
        Step,
        StepChoice,
        StepRun,
    )

hookspec = HookspecMarker("arrears")
hookimpl = HookimplMarker("arrears")

__all__ = [
    "hookimpl",
    "hookspec",
    "register_action_types",
    "register_pool_criteria",
    "register_exclusion_rules",
    "register_commands",
    "select_customers",
    "exclude_customer",
    "exclude_invoices",
    "choose_step",
    "execute_action",
    "render_document",
    "record_history",
    "check_before_run",
    "predict_payment",
    "act_on_prediction",
    "deliver_messages",
    "check_delivery_settings",
]

# --- declaring what a plugin adds (called by each command that reads a setup, first)


@hookspec
def register_action_types(register: Callable[[ActionType], None]) -> None:
    """Declare the action types steps may name (``action = "…"``).

    Called for every plugin when the setup is checked or loaded. ``arrears.plugins``
    declares ``activity``, ``email`` and ``letter``; a setup naming an action
    type no plugin declares is refused.

    :param register: call it with one :class:`~arrears.core.domain.ActionType`
        per action type: its name, the setup section of its templates and
        the class they are structured into, extra step keys, and checks.
    :returns: nothing.
    """


@hookspec
def register_pool_criteria(register: Callable[[SetupOption], None]) -> None:
    """Declare the criteria ``[[pool]]`` tables may use.

    Called for every plugin when the setup is checked or loaded; a pool using a
    criterion nobody declared is refused. ``arrears.plugins.pools`` declares
    the standard ones (customer_group, currency, …, balance_min, balance_max).

    :param register: call it with one :class:`~arrears.core.domain.SetupOption`
        per criterion; its ``parse`` turns the TOML value into the stored one.
    :returns: nothing.
    """


@hookspec
def register_exclusion_rules(register: Callable[[SetupOption], None]) -> None:
    """Declare the rules a hierarchy's ``exclude = { … }`` may use.

    Called for every plugin when the setup is checked or loaded; an unknown
    rule is refused. ``arrears.plugins.exclusions`` declares
    ``customer_balance_below`` and ``invoice_amount_below``.

    :param register: call it with one :class:`~arrears.core.domain.SetupOption`
        per rule.
    :returns: nothing.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``arrears`` command line.

    Called for every plugin once, when ``arrears`` starts.

    :param cli: the top-level click group; add commands or groups to it.
    :returns: nothing.
    """


# --- assignment: which hierarchy a customer follows ---------------------------


@hookspec
def select_customers(
    pool: Pool, customers: Sequence[Customer], context: Context
) -> Iterable[Customer] | None:
    """Filter a batch of customers by the criteria of *pool* this plugin owns.

    Called for every plugin by ``run``, ``simulate``, ``explain`` and ``preview``,
    for each batch, pool by pool in the rank order of their hierarchies, with the
    batch's customers not yet placed (no manual assignment, no pool of a better
    rank); the results of all plugins are ANDed: a customer is in the pool when every
    plugin that answered kept it. ``arrears.plugins.pools`` owns the standard
    criteria. A customer that cannot be judged (a missing exchange rate) is
    reported with ``context.fail(customer, reason)`` and left out; an exception
    fails every customer of the call, naming the plugin.

    :param pool: the pool; ``pool.criteria`` maps criterion names to parsed values.
    :param customers: up to a batch (2,000) of customers, with
        ``context.balance(customer)`` available.
    :param context: the date, setup and rates, and the batch's book.
    :returns: the customers of *customers* that meet this plugin's criteria,
        or None when the pool uses none of them.
    """


# --- the daily run -------------------------------------------------------------


@hookspec
def exclude_customer(customer: Customer, hierarchy: Hierarchy, context: Context) -> str | None:
    """Say whether *customer* is left out of *hierarchy*'s run today, and why.

    Called for every plugin, for each customer the run decides about, before a
    step is chosen. ``arrears.plugins.exclusions`` implements the hierarchy's
    ``exclude`` rules. Every reason is written to the history.

    :returns: a reason, or None to let the customer through.
    """


@hookspec
def exclude_invoices(
    invoices: Sequence[Invoice], customer: Customer, hierarchy: Hierarchy, context: Context
) -> Mapping[str, str] | None:
    """Say which of the customer's *invoices* are left out of its decision today, and why.

    Called for every plugin, once for each customer the run decides about (and not
    excluded as a whole) that has an open invoice whose collections status lets it
    count (not disputed, not promised), with all such invoices: one call per
    customer, not per invoice,
    because a large book has five open invoices for each customer.
    ``arrears.plugins.exclusions`` implements ``invoice_amount_below``. An excluded
    invoice is neither leading nor pre-dunned nor listed on a letter; the reason goes
    to the history. When several plugins exclude the same invoice, its reasons are
    joined with ``"; "``.

    :param invoices: the counting open invoices, oldest due first.
    :returns: a mapping from the number of each invoice to leave out to the reason;
        an empty mapping or None to keep them all.
    """


@hookspec(firstresult=True)
def choose_step(
    customer: Customer,
    hierarchy: Hierarchy,
    leading: Invoice,
    done: Sequence[StepRun],
    context: Context,
) -> StepChoice | None:
    """Decide which regular step of *hierarchy* is due for *customer* today.

    Stops at first non-None result. ``arrears.plugins.steps`` implements the
    standard and track-step rules and quiet days of SEMANTICS.md §3 with
    ``trylast=True``; ``context.last_contact(customer)`` gives the latest
    contact before today.

    :param leading: the customer's leading invoice.
    :param done: the regular steps already done for *leading* under
        *hierarchy*, oldest first.
    :returns: a :class:`~arrears.core.domain.StepChoice` (a step, or none and
        why), or None to let the next implementation decide.
    """


@hookspec(firstresult=True)
def execute_action(
    action: Action, customer: Customer, invoice: Invoice, step: Step, hierarchy: Hierarchy,
    context: Context,
) -> Outcome | None:
    """Carry out one action of a type this plugin declared.

    Stops at first non-None result: answer only for your own action types.
    Called while the batch is decided (in a read transaction); store what the
    action makes through ``context`` (``create_activity``, ``post_letter``,
    ``queue_message``, ``store``): it is written with the batch's decisions, in
    one write transaction after them, dropped if the customer fails, and nothing
    when the run is a simulation, so the same code serves ``run``, ``simulate``
    and ``explain``. Anything done outside ``context`` is yours to skip when
    ``context.simulate`` is true.

    :param action: the action decided (``action.action`` is the type name).
    :param invoice: the leading invoice, or for pre-dunning the invoice acted on.
    :returns: an :class:`~arrears.core.domain.Outcome`: done, or not possible
        with a reason (the step is tried again on the next run); None when
        ``action.action`` is not yours.
    """


@hookspec(firstresult=True)
def render_document(document: Any, fmt: str, context: Context) -> bytes | str | None:
    """Render a document to *fmt*; ``arrears letters export`` calls it per letter.

    Stops at first non-None result. ``arrears.plugins.documents`` renders a
    :class:`~arrears.core.domain.LetterDocument` to HTML (Jinja2's sandbox,
    the built-in template or the letter code's own) and to PDF (WeasyPrint),
    with ``trylast=True``, so an installed plugin may render letters its own way.

    :param document: what to render, such as a ``LetterDocument`` (the posted
        letter, its customer, the company and the letter code).
    :param fmt: ``"pdf"`` or ``"html"`` (``letters export --as``).
    :returns: the rendered text (html) or bytes (pdf), or None if this plugin
        cannot render *document* to *fmt*.
    """


@hookspec
def record_history(entries: Sequence[HistoryEntry], context: Context) -> None:
    """Persist or mirror a batch of history entries.

    Called for every plugin in the write transaction of each batch of a ``run``
    (once with the promises found broken and the customers that failed, once
    with the decisions, each only when there are some) and of ``letters create``;
    never by ``simulate`` or ``explain``. ``arrears.plugins.history`` writes them
    to the history table; another plugin may mirror them elsewhere (a log, an
    audit system). A collections status set outside a run (``arrears invoice
    status``, an import) is written to the history table by that command, not
    passed here.

    :returns: nothing.
    """


@hookspec
def check_before_run(setup: Setup, connection: Connection) -> Sequence[str] | None:
    """Say what an operator should know before a run: a setting of yours that cannot
    take effect with the book as it is.

    Called by ``run``, ``simulate`` and ``explain`` once, before deciding, in a read
    transaction; each text is printed on stderr as a warning (the JSON output is
    unchanged) and the command goes on. ``arrears.plugins.prediction`` warns of a
    hierarchy with ``use_prediction`` while no usable payment model is stored.

    :param connection: to read the book; write nothing.
    :returns: the warnings, each a sentence naming the setting and what to do;
        nothing (None or empty) when there is nothing to say.
    """


# --- payment prediction (SEMANTICS.md §5, docs/prediction.md) ----------------------


@hookspec(firstresult=True)
def predict_payment(invoice: Invoice, customer: Customer, context: Context) -> Prediction | None:
    """Predict whether an open *invoice* will be paid on time, late or very late.

    Stops at first non-None result. The daily run (and ``simulate``,
    ``explain``) asks about every eligible invoice not yet overdue of a
    customer whose hierarchy has ``use_prediction``; ``arrears predict`` asks
    about every open invoice. ``arrears.plugins.prediction`` answers with
    ``trylast=True`` from the payment model ``arrears predict train`` stored,
    and answers None while there is none (or it learned from fewer paid
    invoices than ``parameters.prediction_min_paid_invoices``). Read only:
    write nothing.

    :param invoice: the open invoice.
    :param customer: its customer.
    :param context: the date to predict on (``context.as_of``), the setup, and
        the batch's book (``context.connection`` to read more).
    :returns: a :class:`~arrears.core.domain.Prediction` (``on_time``,
        ``late`` or ``very_late``, with its probability), or None to let the
        next implementation answer; when none does, nothing is predicted.
    """


@hookspec(firstresult=True)
def act_on_prediction(
    prediction: Prediction, invoice: Invoice, customer: Customer, hierarchy: Hierarchy,
    context: Context,
) -> tuple[Action, Outcome] | None:
    """Act on the prediction for an eligible invoice not yet overdue, under a hierarchy
    with ``use_prediction``.

    Stops at first non-None result. The daily run (and ``simulate``,
    ``explain``) calls it after ``predict_payment`` answered, before the
    customer's regular step. ``arrears.plugins.prediction`` implements
    SEMANTICS.md §5 with ``trylast=True``: once per invoice, for a ``late`` or
    ``very_late`` prediction, an activity from ``parameters.prediction_activity``.
    Store what you make through ``context`` (``create_activity``, or
    ``store`` for a table your plugin creates itself: docs/writing_plugins.md,
    "Data of your own"), so a simulation writes nothing and a
    failed customer leaves nothing behind. The kernel keeps no record of it:
    doing it once per invoice is yours to remember. It is not a step run and
    not a contact (quiet days ignore it).

    :param prediction: what ``predict_payment`` answered for *invoice*.
    :param invoice: the invoice, eligible and due on or after ``context.as_of``.
    :returns: the :class:`~arrears.core.domain.Action` taken and its
        :class:`~arrears.core.domain.Outcome` (done, or not possible and why:
        asked again next run), which the run lists and writes to the history
        like a step's; or None when there is nothing to do.
    """


# --- delivery: the outbox sender (``arrears outbox send``) ------------------------


@hookspec(firstresult=True)
def deliver_messages(
    channel: str,
    messages: Iterator[Message],
    report: Callable[[Message, Delivery], None],
    settings: Mapping[str, str],
) -> bool | None:
    """Deliver the queued messages of *channel*, reporting each attempt.

    Stops at first non-None result: answer only for a channel you deliver.
    Called by ``arrears outbox send`` once per channel that has queued
    messages. ``arrears.plugins.smtp`` delivers ``email`` over SMTP with
    ``trylast=True``. Each message the iterator yields has just been claimed
    (marked ``uncertain`` in its own committed transaction), so two senders
    never get the same one; call *report* right after each attempt, which
    commits the outcome at once. A message claimed and never reported stays
    ``uncertain``. To stop early (the server is unreachable), report the
    message in hand as ``retry`` and stop iterating: the rest stay queued.
    Never put a secret (a password) in a report's detail or an exception.
    Raise ``BadInput`` for a setting missing or refused (exit 2); any other
    exception stops this channel only, named with your plugin (exit 1).

    :param channel: the outbox channel (``"email"``, or a plugin's own).
    :param messages: the queued messages of *channel*, oldest first, each
        :class:`~arrears.core.domain.Message` claimed as it is yielded.
    :param report: call it with the message and a
        :class:`~arrears.core.domain.Delivery`: ``sent``, ``retry``
        (back to the queue), ``failed`` (for good) or ``uncertain``.
    :param settings: the sender's options from the command line, such as
        ``smtp`` (the ``--smtp`` URL; unset when not given).
    :returns: True when this plugin delivers *channel* (having consumed
        the messages it could), None to let the next implementation decide.
    """


@hookspec
def check_delivery_settings(settings: Mapping[str, str]) -> Sequence[str] | None:
    """Say what is wrong with the settings of the channels you deliver.

    Called by ``arrears outbox send`` when no message is queued, so that a setting
    that could never work (a malformed ``--smtp`` URL) fails the command on a quiet
    day too, and a scheduled send is mended before mail is waiting. (With messages
    queued, :func:`deliver_messages` raising ``BadInput`` says it.) A setting not
    given at all is no problem while there is nothing to send.

    :param settings: as for :func:`deliver_messages`.
    :returns: the problems, each naming the setting and never showing a secret;
        nothing (None or empty) when the settings given are usable.
    """
