"""Jinja2 in its sandbox: the only way templates are compiled and rendered."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, MutableMapping, MutableSequence, MutableSet
from functools import cache, lru_cache
from typing import Any

import attrs
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

# What Jinja's immutable sandbox guards (jinja2.sandbox.modifies_known_mutable), and types.
_GUARDED = (list, dict, set, deque, MutableSet, MutableMapping, MutableSequence, type)


@lru_cache(maxsize=1024)
def record_fields(cls: type) -> frozenset[str]:
    """The public fields of *cls* if it is an attrs class the sandbox guards nothing of
    (not a container, not a type), else none: what :class:`Sandbox` lets a template read
    without asking Jinja's checks, whose answer for them is always yes."""
    if not attrs.has(cls) or issubclass(cls, _GUARDED):
        return frozenset()
    return frozenset(f.name for f in attrs.fields(cls) if not f.name.startswith("_"))


MAX_REPEAT = 100_000
"""The longest text or list a template may make by repeating one (``'-' * 40``)."""
MAX_EXPONENT = 1_000
RANGE_BUDGET = 1_000_000
"""How many numbers one rendering may take from ``range``, all its loops together."""

_budget = [RANGE_BUDGET]  # what the rendering in progress has left (one at a time)


def _budgeted_range(*args: int) -> range:
    numbers = safe_range(*args)  # at most MAX_RANGE at once
    _budget[0] -= len(numbers)
    if _budget[0] < 0:
        raise SecurityError(f"the template's loops take more than {RANGE_BUDGET:,} numbers "
                            "from range()")
    return numbers


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, answering at once for the data fields of attrs records
    (a customer's name, an invoice's due date), which every template reads a few times
    over: Jinja's general checks (internal attributes, mutating methods, each through
    ``isinstance`` against abstract classes) were half of a render. Anything else, and
    every call, is checked by Jinja as before.

    It also bounds what a template can make the machine do, which Jinja leaves open:
    ``*`` and ``**`` are checked (``'a' * 4 * 10**8`` took 1.6 GB, and was computed by
    merely checking the setup, as Jinja folds constants when compiling), and nested loops
    over ``range`` share one budget per rendering.
    """

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _budgeted_range

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return attr in record_fields(type(obj)) or super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"an exponent above {MAX_EXPONENT} ({right})")
        if operator == "*":
            for times, repeated in ((left, right), (right, left)):
                if isinstance(times, int) and isinstance(repeated, str | bytes | list | tuple) \
                        and times * len(repeated) > MAX_REPEAT:
                    raise SecurityError(f"repeating makes more than {MAX_REPEAT:,} items")
        return super().call_binop(context, operator, left, right)


@cache
def environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    """The sandboxed environment; *html* turns autoescaping on."""
    return Sandbox(autoescape=html, undefined=StrictUndefined)


def check(source: str, *, html: bool = False) -> str | None:
    """None if *source* compiles, else the template error's message."""
    try:
        environment(html=html).from_string(source)
    except TemplateError as error:
        return problem(error)
    return None


def problem(error: Exception) -> str:
    """What went wrong with a template, in words: for a setup check, or the reason of an
    Outcome when rendering a user's template failed (:func:`render` raised)."""
    if isinstance(error, TemplateError):
        line = getattr(error, "lineno", None)
        return f"template error{f' on line {line}' if line else ''}: {error.message or error}"
    return f"template error: {type(error).__name__}: {error}"


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Template:
    template = environment(html=html).from_string(source)
    # Jinja keeps a template's globals as a ChainMap over the environment's and copies
    # it into a dict at every render (8 % of a render); they never change: copy once.
    template.globals = dict(template.globals)
    return template


def render(source: str, values: dict[str, Any], *, html: bool = False) -> str:
    """Render *source* with *values*; raises jinja2.TemplateError (:func:`problem` says
    it in words), or whatever a method the template calls raises.

    Each template is compiled once per process: a run renders the same few
    templates for thousands of customers.
    """
    _budget[0] = RANGE_BUDGET
    return _compiled(source, html).render(values)


def language(wanted: str | None, available: Collection[str], default: str) -> str:
    """The language to render a template in: *wanted* (the customer's) when the template
    has it among *available*, written as the customer's (``sv-SE`` as ``sv_SE`` too) or
    as its language alone (``sv`` for ``sv-SE`` or ``SV``), else the template's *default*
    (SEMANTICS.md §5)."""
    return next((v for v in language_variants(wanted) if v in available), default)


def language_variants(wanted: str | None) -> tuple[str, ...]:
    """The ways a customer's language code may be written in a template, most exact
    first: ``sv-SE`` → ``sv-SE``, ``sv_SE``, ``sv``."""
    if not wanted or not wanted.strip():
        return ()
    written = wanted.strip()
    regional = written.replace("-", "_")
    return tuple(dict.fromkeys((written, regional, regional.split("_")[0].lower())))


def plain_text(html: str) -> str:
    """The text of *html* as a reader sees it (paragraphs, lists, tables): the plain
    part of an email whose template has no text body."""
    from inscriptis import get_text  # loads lxml: only when a message is built

    return get_text(html).strip() if html.strip() else ""
