"""Jinja2 in its sandbox: the only way templates are compiled and rendered."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, MutableMapping, MutableSequence, MutableSet
from functools import cache, lru_cache
from typing import Any

import attrs
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

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


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, answering at once for the data fields of attrs records
    (a customer's name, an invoice's due date), which every template reads a few times
    over: Jinja's general checks (internal attributes, mutating methods, each through
    ``isinstance`` against abstract classes) were half of a render. Anything else, and
    every call, is checked by Jinja as before."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return attr in record_fields(type(obj)) or super().is_safe_attribute(obj, attr, value)


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
    return _compiled(source, html).render(values)


def language(wanted: str | None, available: Collection[str], default: str) -> str:
    """The language to render a template in: *wanted* (the customer's) when the template
    has it among *available*, else the template's *default* (SEMANTICS.md §5)."""
    return wanted if wanted is not None and wanted in available else default


def plain_text(html: str) -> str:
    """The text of *html* as a reader sees it (paragraphs, lists, tables): the plain
    part of an email whose template has no text body."""
    from inscriptis import get_text  # loads lxml: only when a message is built

    return get_text(html).strip() if html.strip() else ""
