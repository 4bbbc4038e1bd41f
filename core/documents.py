"""Posted collection letters as files: ``arrears letters export DIR``.

Each letter becomes a :class:`~arrears.core.domain.LetterDocument` (the letter
as ``arrears letters`` lists it, its customer, the setup's company, letter
code and sequence, and the page size), is rendered through the
``render_document`` hook (``arrears.plugins.documents`` by default) and is
written to ``DIR/<customer>-<code>-<letter id>.<format>``.

PDF costs tens of milliseconds a letter, so from :data:`POOL_MIN` letters on the
work is spread over worker processes (``--jobs``, by default one per CPU);
each worker builds its own plugin manager from the installed plugins, so a
plugin registered by hand in this process (a test's) renders only with
``--jobs 1``. HTML is rendered in this process. One letter that fails to
render is reported and the others are still written.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import attrs
import pluggy
from sqlalchemy import Connection

from arrears.core import book, run, schema
from arrears.core.context import Context, Rates
from arrears.core.domain import LetterCode, LetterDocument, LetterSequence, Setup
from arrears.core.errors import ArrearsError, BadInput

FORMATS = ("pdf", "html")
POOL_MIN = 40
"""From this many letters on, PDF export uses worker processes."""
CHUNK = 8
"""Letters per task handed to a worker."""
LOOKUP_CHUNK = 500

customers_t = schema.customer


class DocumentUnavailable(ArrearsError):
    """A renderer cannot work at all here (a library missing): stop, don't retry per letter."""


@attrs.frozen
class ExportedFile:
    letter: int
    customer: str
    code: str
    file: str


@attrs.frozen
class ExportFailure:
    letter: int
    customer: str
    code: str
    reason: str


@attrs.define
class ExportResult:
    """``letters export --format json``."""

    directory: str
    format: str
    jobs: int
    seconds: float = 0.0
    files: list[ExportedFile] = attrs.Factory(list)
    errors: list[ExportFailure] = attrs.Factory(list)


# --- reading --------------------------------------------------------------------------


def letter_documents(connection: Connection, setup: Setup, *,
                     customer: str | None = None) -> list[LetterDocument]:
    """The posted letters (of *customer*, or all), oldest first, ready to render."""
    from arrears.core import records

    rows = records.list_letters(connection, customer=customer)
    accounts = sorted({row.customer for row in rows})
    found = {}
    for start in range(0, len(accounts), LOOKUP_CHUNK):
        chunk = accounts[start:start + LOOKUP_CHUNK]
        for row in connection.execute(book.select_customers()
                                      .where(customers_t.c.account.in_(chunk))):
            found[row.account] = book.customer_from_row(row)
    sequences = {s.id: s for s in setup.letter_sequences}
    return [LetterDocument(row, found[row.customer], setup.company,
                           *_code(row.sequence, row.code, sequences),
                           page_size=setup.parameters.letter_page_size)
            for row in rows]


def _code(sequence_id: str, code: str, sequences: dict[str, LetterSequence]
          ) -> tuple[LetterCode | None, LetterSequence | None]:
    """The letter's code in its own sequence, else in any sequence that has it."""
    own = sequences.get(sequence_id)
    for sequence in ([own] if own else []) + list(sequences.values()):
        for letter_code in sequence.letters:
            if letter_code.code == code:
                return letter_code, sequence
    return None, own


# --- rendering ---------------------------------------------------------------------------


_UNSAFE = re.compile(r"[^\w.-]+")


def _safe(part: str) -> str:
    """*part* of a file name: unsafe characters as ``_``, at most 80 bytes of UTF-8 (a
    file system's limit is 255 bytes, not characters; cut between characters)."""
    safe = _UNSAFE.sub("_", part).strip("._")
    return safe.encode()[:80].decode(errors="ignore") or "_"


def file_name(document: LetterDocument, fmt: str) -> str:
    """``<customer>-<code>-<letter id>.<fmt>``, with anything unsafe in a file name as ``_``."""
    letter = document.letter
    return f"{_safe(letter.customer)}-{_safe(letter.code)}-{letter.id}.{fmt}"


def render(pm: pluggy.PluginManager, document: LetterDocument, fmt: str,
           setup: Setup) -> bytes | str:
    """*document* rendered to *fmt* by the first plugin that answers.

    Raises DocumentUnavailable when no plugin renders it.
    """
    context = Context(as_of=document.letter.date, setup=setup,
                      rates=Rates(setup.parameters.accounting_currency))
    rendered = pm.hook.render_document(document=document, fmt=fmt, context=context)
    if rendered is None:
        raise DocumentUnavailable(
            f"no installed plugin renders collection letters as {fmt} (the built-in "
            "arrears.plugins.documents renders html and pdf; is it disabled by "
            "ARREARS_DISABLE_PLUGINS?)")
    return rendered


def _write(path: Path, rendered: bytes | str) -> None:
    """Write *path* whole or not at all (a file that is there is complete)."""
    partial = path.with_name(path.name + ".part")
    if isinstance(rendered, str):
        partial.write_text(rendered, encoding="utf-8")
    else:
        partial.write_bytes(rendered)
    os.replace(partial, path)


def _render_to_file(pm: pluggy.PluginManager, document: LetterDocument, fmt: str,
                    setup: Setup, path: Path) -> str | None:
    """Render and write one letter; the reason when it failed (but not when nothing can)."""
    try:
        _write(path, render(pm, document, fmt, setup))
    except DocumentUnavailable:
        raise
    except ArrearsError as error:
        return str(error)
    except OSError as error:
        return f"cannot write {path}: {error.strerror or error}"
    except Exception as error:  # a plugin's bug: report this letter, export the others
        return f"{type(error).__name__}: {error}"
    return None


# the worker processes' own state, set by _start_worker
_worker: dict[str, Any] = {}


def _start_worker(setup: Setup) -> None:
    from arrears.core.plugins import get_plugin_manager

    _worker["pm"] = get_plugin_manager()
    _worker["setup"] = setup


def _render_chunk(tasks: list[tuple[LetterDocument, str]], fmt: str
                  ) -> list[tuple[int, str | None]]:
    return [(document.letter.id, _render_to_file(_worker["pm"], document, fmt,
                                                 _worker["setup"], Path(path)))
            for document, path in tasks]


def export_letters(pm: pluggy.PluginManager, setup: Setup,
                   documents: Sequence[LetterDocument], directory: Path, *, fmt: str = "pdf",
                   jobs: int | None = None,
                   progress: Callable[[int], None] | None = None) -> ExportResult:
    """Render every document to *fmt* into *directory* (made if missing), one file each.

    Files already there with the same name are replaced. The first letter is
    rendered in this process, so that a renderer that cannot work at all
    stops the export at once (DocumentUnavailable); after that a letter that
    fails is listed in the result's errors and the others are written.
    """
    if fmt not in FORMATS:
        raise BadInput(f"--as: {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"DIR: cannot create {directory}: {error.strerror or error}") from None
    if not directory.is_dir():
        raise BadInput(f"DIR: {directory} is not a folder")
    jobs = jobs or run.usable_cpus()  # one worker process per CPU
    parallel = fmt == "pdf" and jobs > 1 and len(documents) >= POOL_MIN
    result = ExportResult(str(directory), fmt, jobs if parallel else 1)
    started = time.perf_counter()
    paths = {d.letter.id: directory / file_name(d, fmt) for d in documents}
    by_id = {d.letter.id: d for d in documents}
    outcomes: list[tuple[int, str | None]] = []

    def done(batch: Iterable[tuple[int, str | None]]) -> None:
        batch = list(batch)
        outcomes.extend(batch)
        if progress is not None:
            progress(len(batch))

    if documents:
        first = documents[0]
        done([(first.letter.id, _render_to_file(pm, first, fmt, setup, paths[first.letter.id]))])
    rest = list(documents[1:])
    if parallel and rest:
        tasks = [(d, str(paths[d.letter.id])) for d in rest]
        size = max(1, min(CHUNK, len(tasks) // (jobs * 4) or 1))
        with ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker,
                                 initargs=(setup,)) as pool:
            futures = {pool.submit(_render_chunk, tasks[i:i + size], fmt): tasks[i:i + size]
                       for i in range(0, len(tasks), size)}
            for future in as_completed(futures):
                done(future.result())
    else:
        for document in rest:
            done([(document.letter.id,
                   _render_to_file(pm, document, fmt, setup, paths[document.letter.id]))])
    for letter_id, reason in sorted(outcomes):
        letter = by_id[letter_id].letter
        if reason is None:
            result.files.append(ExportedFile(letter_id, letter.customer, letter.code,
                                             str(paths[letter_id])))
        else:
            result.errors.append(ExportFailure(letter_id, letter.customer, letter.code, reason))
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def summary(result: ExportResult) -> str:
    """The text ``letters export`` prints."""
    count = len(result.files)
    if not count and not result.errors:
        return "no letters to export"
    each = 1000 * result.seconds / count if count else 0.0
    per = f", {each:.1f} ms per letter" if 0 < each < 10 else (
        f", {each:.0f} ms per letter" if count else "")
    lines = [f"{count} letter{'' if count == 1 else 's'} exported as {result.format} to "
             f"{result.directory} in {result.seconds:.1f} s{per}"
             + (f" ({result.jobs} processes)" if result.jobs > 1 else "")]
    lines += [f"failed: letter {e.letter} ({e.customer}, {e.code}): {e.reason}"
              for e in result.errors]
    return "\n".join(lines)
