"""Jinja2 in its sandbox: the only way templates are compiled and rendered."""

from __future__ import annotations

from collections.abc import Collection
from functools import cache, lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


@cache
def environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    """The sandboxed environment; *html* turns autoescaping on."""
    return ImmutableSandboxedEnvironment(autoescape=html, undefined=StrictUndefined)


def check(source: str, *, html: bool = False) -> str | None:
    """None if *source* compiles, else the template error's message."""
    try:
        environment(html=html).from_string(source)
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        return f"template error{f' on line {line}' if line else ''}: {error.message}"
    return None


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Template:
    template = environment(html=html).from_string(source)
    # Jinja keeps a template's globals as a ChainMap over the environment's and copies
    # it into a dict at every render (8 % of a render); they never change: copy once.
    template.globals = dict(template.globals)
    return template


def render(source: str, values: dict[str, Any], *, html: bool = False) -> str:
    """Render *source* with *values*; raises jinja2.TemplateError.

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
