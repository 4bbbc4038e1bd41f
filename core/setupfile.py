"""The setup file: TOML in, a validated :class:`~arrears.core.domain.Setup` out.

Every problem is reported at once, each naming the file and its place in it
(``setup.toml: hierarchy "STD", step 3 ("Second notice"): when: …``). The
document form (:func:`to_document`) is what ``setup show`` prints and what the
database stores; :func:`parse` accepts it back unchanged.
"""

from __future__ import annotations

import json
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError
from sqlalchemy import Connection, select

from arrears.core import clock, options, schema, templating
from arrears.core.clock import utcnow
from arrears.core.domain import (
    Company,
    Hierarchy,
    LetterCode,
    LetterSequence,
    Parameters,
    Party,
    Pool,
    Setup,
    Step,
)
from arrears.core.errors import BadInput
from arrears.core.plugins import SETUP_SECTIONS, Registry, names

converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook(Decimal, lambda value, _: options.decimal(value))
# A template's fields as written, not as Python would convert them (str(5), int("7"),
# bool("no"), float("1.5"), tuple("ab")).
converter.register_structure_hook(str, lambda value, _: options.text(value))
converter.register_structure_hook(int, lambda value, _: options.whole(value))
converter.register_structure_hook(bool, lambda value, _: options.flag(value))
converter.register_structure_hook(float, lambda value, _: options.number(value))


def _is_array(type_: Any) -> bool:
    """``list[X]`` or ``tuple[X, ...]``."""
    arguments = typing.get_args(type_)
    return typing.get_origin(type_) is list and len(arguments) == 1 or \
        typing.get_origin(type_) is tuple and len(arguments) == 2 and arguments[1] is Ellipsis


def _structure_array(type_: Any) -> Callable[[Any, Any], Any]:
    make, item = typing.get_origin(type_), typing.get_args(type_)[0]

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"expected an array, got {options.show(value)}")
        return make(converter.structure(v, item) for v in value)

    return structure


converter.register_structure_hook_factory(_is_array, _structure_array)
converter.register_unstructure_hook(Decimal, str)

INCLUDE_SUFFIXES = (".html", ".htm", ".txt")
STEP_KEYS = {"description", "action", "document", "when", "days", "pre_dunning"}
RECIPIENT_KEYS = {"recipient", "contact_purpose"}


class Problems:
    """Collects problems, each prefixed with the file and a place."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[str] = []

    def add(self, place: str, message: str) -> None:
        self.items.append(f"{self.source}: {place}: {message}" if place else
                          f"{self.source}: {message}")


class _Table:
    """Reads typed fields from one TOML table, reporting problems at its place."""

    def __init__(self, data: Any, place: str, problems: Problems):
        self.place = place
        self.problems = problems
        self.ok = isinstance(data, dict)
        if not self.ok:
            problems.add(place, f"expected a table, got {options.show(data)}")
        self.data: dict[str, Any] = data if self.ok else {}

    def error(self, key: str | None, message: str) -> None:
        self.problems.add(f"{self.place}: {key}" if key else self.place, message)

    def only(self, allowed: set[str] | Mapping[str, Any]) -> None:
        for key in self.data:
            if key not in allowed:
                self.error(None, f'unknown key "{key}" (expected one of {names(allowed)})')

    def get(self, key: str, kind: str, default: Any = None, *, required: bool = False) -> Any:
        if key not in self.data:
            if required:
                self.error(key, "is required")
            return default
        value = self.data[key]
        check = _KINDS[kind]
        try:
            return check(value)
        except ValueError as problem:
            self.error(key, str(problem))
            return default


_KINDS: dict[str, Callable[[Any], Any]] = {
    "text": options.text, "id": options.identifier, "count": options.count,
    "days": options.days, "positive_days": options.positive_days,
    "positive": options.positive, "flag": options.flag, "amount": options.amount,
    "currency": options.currency, "timezone": options.timezone, "when": options.when,
    "email": options.email,
}


# --- letters as documents: page size, per-code text and template (docs/letters.md)

PAGE_SIZES = ("A4", "Letter")


def _page_size(value: Any) -> str:
    for size in PAGE_SIZES:
        if isinstance(value, str) and value.strip().lower() == size.lower():
            return size
    raise ValueError(f'expected "A4" or "Letter", got {options.show(value)}')


_KINDS["page_size"] = _page_size


def _roc_auc(value: Any) -> Decimal:
    number = options.decimal(value)
    if not Decimal("0.5") <= number <= 1:
        raise ValueError(f"expected a ROC AUC from 0.5 (chance) to 1, got {options.show(value)}")
    return number


_KINDS["roc_auc"] = _roc_auc


def _letter_text(letter: _Table, base: Path | None) -> dict[str, str]:
    """``text``: a table of language -> Jinja text (a .txt/.html file next to the setup
    file, or inline), each checked to compile."""
    raw = letter.data.get("text", {})
    if not isinstance(raw, dict):
        letter.error("text", f'expected a table of language = "text", got {options.show(raw)}')
        return {}
    texts: dict[str, str] = {}
    for language, value in _include(raw, f"{letter.place}: text", base,
                                     letter.problems).items():
        if not isinstance(value, str):
            letter.error(f"text.{language}", f"expected a string, got {options.show(value)}")
        elif problem := templating.check(value, html=True):
            letter.error(f"text.{language}", problem)
        else:
            texts[language] = value
    return texts


def _letter_template(letter: _Table, base: Path | None) -> str | None:
    """``template``: a whole-letter Jinja HTML template, inline or a file next to the
    setup file, checked to compile."""
    if "template" not in letter.data:
        return None
    value = _include(letter.data["template"], f"{letter.place}: template", base,
                     letter.problems)
    if not isinstance(value, str) or not value.strip():
        letter.error("template", f"expected HTML or the name of an .html file next to the "
                     f"setup file, got {options.show(value)}")
        return None
    if problem := templating.check(value, html=True):
        letter.error("template", problem)
        return None
    return value


def _tables(data: dict[str, Any], key: str, problems: Problems) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        problems.add(key, f"expected an array of tables ([[{key}]]), got {options.show(value)}")
        return []
    return value


def _label(kind: str, entry: Any, index: int) -> str:
    ident = entry.get("id") if isinstance(entry, dict) else None
    return f'{kind} "{ident}"' if isinstance(ident, str) else f"{kind} {index}"


# --- sections ----------------------------------------------------------------------


def _parameters(data: Any, problems: Problems) -> Parameters:
    table = _Table(data if data is not None else {}, "parameters", problems)
    fields = {f.name for f in attrs.fields(Parameters)}
    table.only(fields)
    default = Parameters()
    return Parameters(
        accounting_currency=table.get("accounting_currency", "currency",
                                      default.accounting_currency),
        timezone=table.get("timezone", "timezone", default.timezone),
        track_step=table.get("track_step", "flag", default.track_step),
        history_days=table.get("history_days", "positive_days", default.history_days),
        default_letter_sequence=table.get("default_letter_sequence", "id"),
        prediction_activity=table.get("prediction_activity", "id"),
        prediction_very_late_days=table.get("prediction_very_late_days", "positive_days",
                                            default.prediction_very_late_days),
        prediction_min_paid_invoices=table.get("prediction_min_paid_invoices", "positive",
                                               default.prediction_min_paid_invoices),
        prediction_min_roc_auc=table.get("prediction_min_roc_auc", "roc_auc",
                                         default.prediction_min_roc_auc),
        exclude_after_last_step=table.get("exclude_after_last_step", "flag", False),
        activities_for_automations=table.get("activities_for_automations", "flag", False),
        letter_page_size=table.get("letter_page_size", "page_size", default.letter_page_size),
    )


def _options(table: _Table, key: str, declared: Mapping[str, Any], what: str,
             base: Path | None) -> dict[str, Any]:
    """Parse a map of plugin-declared options (pool criteria, exclusion rules); a value
    naming a file next to the setup file is parsed from the file's text."""
    parsed: dict[str, Any] = {}
    for name, value in table.data.items():
        if name not in declared:
            table.error(key or name, f'unknown {what} "{name}" (installed plugins '
                        f"declare: {names(declared)})")
            continue
        value = _include(value, f"{table.place}: {name}", base, table.problems)
        try:
            parsed[name] = declared[name].parse(value)
        except ValueError as problem:
            table.error(name, str(problem))
    return parsed


def _pool(entry: Any, place: str, registry: Registry, problems: Problems,
          base: Path | None) -> Pool:
    table = _Table(entry, place, problems)
    pool_id = table.get("id", "id", "", required=True)
    description = table.get("description", "text", "")
    criteria = _Table({k: v for k, v in table.data.items() if k not in ("id", "description")},
                      place, problems)
    return Pool(pool_id, description, _options(criteria, "", registry.pool_criteria,
                                               "pool criterion", base))


def _step(entry: Any, place: str, registry: Registry, problems: Problems) -> Step | None:
    table = _Table(entry, place, problems)
    action = table.get("action", "id", required=True)
    action_type = registry.action_types.get(action) if action else None
    if action and action_type is None:
        table.error("action", f'unknown action type "{action}" (installed plugins declare: '
                    f"{names(registry.action_types)})")
    extra = set(action_type.step_options) | set(action_type.required_step_options) \
        if action_type else set()
    for key in action_type.required_step_options if action_type else ():
        if key not in table.data:
            table.error(key, f'is required by action type "{action}"')
    for key in table.data:
        if key in extra - RECIPIENT_KEYS and _holds_a_time(table.data[key]):
            table.error(key, "a TOML date or time cannot be kept as a step option: write it "
                        'as a string ("2025-01-31")')
        if key not in STEP_KEYS | extra:
            if key in RECIPIENT_KEYS and action_type is not None:
                table.error(key, f'is not used by action type "{action}"')
            elif action_type is not None:
                table.error(None, f'unknown key "{key}" (expected one of '
                            f"{names(STEP_KEYS | extra)})")
    step = Step(
        description=table.get("description", "id", "", required=True),
        action=action or "",
        when=table.get("when", "when", "after", required=True),
        days=table.get("days", "days", 0, required=True),
        document=table.get("document", "id"),
        pre_dunning=table.get("pre_dunning", "flag", False),
        recipient=table.get("recipient", "id") if "recipient" in extra else None,
        contact_purpose=table.get("contact_purpose", "id") if "contact_purpose" in extra else None,
        options={k: v for k, v in table.data.items() if k in extra - RECIPIENT_KEYS},
    )
    return step if table.ok else None


def _holds_a_time(value: Any) -> bool:
    """Whether a raw TOML value is or holds a date or time, which the stored setup (JSON)
    cannot keep."""
    if isinstance(value, dict):
        return any(_holds_a_time(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_a_time(v) for v in value)
    return isinstance(value, date | time)


def _hierarchy(entry: Any, place: str, registry: Registry, problems: Problems,
               base: Path | None) -> Hierarchy:
    table = _Table(entry, place, problems)
    table.only({"id", "description", "pool", "rank", "quiet_days", "exclude",
                "use_prediction", "step"})
    exclude = _Table(table.data.get("exclude", {}), f"{place}: exclude", problems)
    steps = []
    raw_steps = table.data.get("step", [])
    if not isinstance(raw_steps, list):
        table.error("step", f"expected an array of tables ([[hierarchy.step]]), "
                    f"got {options.show(raw_steps)}")
        raw_steps = []
    for index, raw in enumerate(raw_steps, 1):
        described = raw.get("description") if isinstance(raw, dict) else None
        label = f'{place}, step {index}' + (f' ("{described}")' if described else "")
        step = _step(raw, label, registry, problems)
        if step is not None:
            steps.append((label, step))
    hierarchy = Hierarchy(
        id=table.get("id", "id", "", required=True),
        pool=table.get("pool", "id", "", required=True),
        rank=table.get("rank", "positive", 0, required=True),
        description=table.get("description", "text", ""),
        quiet_days=table.get("quiet_days", "days", 0),
        exclude=_options(exclude, "", registry.exclusion_rules, "exclusion rule", base),
        use_prediction=table.get("use_prediction", "flag", False),
        steps=tuple(step for _, step in steps),
    )
    _check_steps(hierarchy, place, steps, problems)
    return hierarchy


def _check_steps(hierarchy: Hierarchy, place: str, steps: list[tuple[str, Step]],
                 problems: Problems) -> None:
    seen: dict[str, str] = {}
    offsets: dict[int, str] = {}
    pre_dunning = []
    for label, step in steps:
        if step.description in seen:
            problems.add(label, f'description: "{step.description}" is already the '
                         f"description of {seen[step.description]}")
        seen.setdefault(step.description, label.split(", ", 1)[-1])
        if step.pre_dunning:
            pre_dunning.append(label)
            if step.when != "before":
                problems.add(label, 'when: a pre-dunning step acts before the due date; '
                             'expected "before"')
        elif step.offset in offsets:
            problems.add(label, f"days: {step.when} {step.days} days is the same offset as "
                         f"{offsets[step.offset]}; regular steps need distinct offsets")
        else:
            offsets[step.offset] = label.split(", ", 1)[-1]
    if len(pre_dunning) > 1:
        marked = ", ".join(label.split(", ", 1)[-1] for label in pre_dunning)
        problems.add(place, f"{len(pre_dunning)} steps are marked pre_dunning ({marked}); "
                     "at most one may be")


def _letter_sequence(entry: Any, place: str, problems: Problems,
                     base: Path | None = None) -> LetterSequence:
    table = _Table(entry, place, problems)
    table.only({"id", "description", "currency", "letter"})
    letters = []
    raw_letters = table.data.get("letter", [])
    if not isinstance(raw_letters, list) or not raw_letters:
        table.error("letter", "expected at least one [[letter_sequence.letter]]")
        raw_letters = []
    codes: set[str] = set()
    for index, raw in enumerate(raw_letters, 1):
        code = raw.get("code") if isinstance(raw, dict) else None
        letter = _Table(raw, f"{place}, letter {index}" + (f' ("{code}")' if code else ""),
                        problems)
        letter.only({"code", "description", "days", "fee", "text", "template"})
        parsed = LetterCode(
            code=letter.get("code", "id", "", required=True),
            days=letter.get("days", "days", 0, required=True),
            description=letter.get("description", "text", ""),
            fee=letter.get("fee", "amount", Decimal("0")),
            text=_letter_text(letter, base),
            template=_letter_template(letter, base),
        )
        if parsed.code in codes:
            letter.error("code", f'"{parsed.code}" appears twice in this sequence')
        codes.add(parsed.code)
        letters.append(parsed)
    return LetterSequence(table.get("id", "id", "", required=True), tuple(letters),
                          table.get("description", "text", ""), table.get("currency", "currency"))


def _party(entry: Any, place: str, problems: Problems) -> Party:
    table = _Table(entry, place, problems)
    table.only({"id", "name", "email"})
    return Party(table.get("id", "id", "", required=True), table.get("name", "text", ""),
                 table.get("email", "email"))


def _include(value: Any, place: str, base: Path | None, problems: Problems) -> Any:
    """Replace a string naming a file next to the setup file by the file's text."""
    if isinstance(value, dict):
        return {k: _include(v, f"{place}: {k}", base, problems) for k, v in value.items()}
    if base is None or not isinstance(value, str) or "\n" in value or "<" in value:
        return value
    if not value.lower().endswith(INCLUDE_SUFFIXES):
        if DOCUMENT_FILE.fullmatch(value.strip()):  # would go out as the text "mail.eml"
            problems.add(place, f'"{value}" names a file arrears cannot read: only .html, '
                         ".htm and .txt files are (save an Outlook message as HTML: File, "
                         "Save As, HTML)")
        return value
    path = base / value
    try:
        raw = path.read_bytes()
    except OSError as error:
        problems.add(place, f'cannot read "{path}": {error.strerror or error}')
        return value
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    declared = CHARSET.search(raw[:4096]) if path.suffix.lower() in (".html", ".htm") else None
    if declared is not None:  # Outlook's "Save As HTML" writes windows-1252, and says so
        try:
            return raw.decode(declared[1].decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    problems.add(place, f'"{path}" is not UTF-8 text' + (
        f" nor {declared[1].decode('ascii')}, as it declares" if declared else ""))
    return value


DOCUMENT_FILE = re.compile(r"[^\s<>]+\.(?:eml|msg|oft|mht|mhtml|doc|docx|rtf|odt|pdf)",
                           re.IGNORECASE)
"""A file name of a document arrears does not read, given where a text or file is."""
CHARSET = re.compile(rb"""<meta[^>]*charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
"""An HTML file's declared encoding."""


def _problem(error: BaseException, type_: Any) -> str:
    """A structuring error in words: the parsers' own (options.text, options.decimal)
    say what was expected and found; cattrs' words for the rest."""
    if isinstance(error, ValueError) and not isinstance(error, cattrs.BaseValidationError):
        return str(error)
    return cattrs.v.format_exception(error, type_)


def _template(entry: Any, place: str, cls: type, base: Path | None,
              problems: Problems) -> Any:
    table = _Table(entry, place, problems)
    if not table.ok:
        return None
    table.only({f.name: f for f in attrs.fields(cls)})
    data = _include(table.data, place, base, problems)
    try:
        return converter.structure(data, cls)
    except ClassValidationError as error:
        for message in cattrs.transform_error(error, path="", format_exception=_problem):
            text, _, where = message.rpartition(" @ ")
            field = where.lstrip(".")
            if "extra fields" in text:
                continue
            if field in data and "got" not in text:  # a field of the table: show its value
                text = f"{text}, got {data[field]!r}"
            problems.add(f"{place}: {field}" if field else place, text)
    return None


# --- the whole file ----------------------------------------------------------------


def parse(data: dict[str, Any], registry: Registry, source: str,
          base: Path | None = None) -> Setup:
    """Validate a setup document (parsed TOML or stored JSON) into a Setup.

    Raises BadInput with every problem found, each naming *source* and its place.
    """
    problems = Problems(source)
    sections = registry.template_sections()
    for key in data:
        if key not in SETUP_SECTIONS and key not in sections:
            problems.add("", f'unknown section "{key}" (expected one of '
                         f"{names(SETUP_SECTIONS | set(sections))})")

    def entries(kind: str) -> list[tuple[str, Any]]:
        return [(_label(kind, e, i), e) for i, e in enumerate(_tables(data, kind, problems), 1)]

    parameters = _parameters(data.get("parameters"), problems)
    company = _Table(data.get("company", {}), "company", problems)
    company.only({"name", "address"})
    templates = {
        section: {t.id: t for place, entry in entries(section)
                  if (t := _template(entry, place, action.template_class, base, problems))}
        for section, action in sections.items() if action.template_class is not None
    }
    setup = Setup(
        parameters=parameters,
        pools=tuple(_pool(e, p, registry, problems, base) for p, e in entries("pool")),
        hierarchies=tuple(_hierarchy(e, p, registry, problems, base)
                          for p, e in entries("hierarchy")),
        letter_sequences=tuple(_letter_sequence(e, p, problems, base)
                               for p, e in entries("letter_sequence")),
        sales_groups=tuple(_party(e, p, problems) for p, e in entries("sales_group")),
        collections_agents=tuple(_party(e, p, problems) for p, e in entries("collections_agent")),
        company=Company(company.get("name", "text", ""), company.get("address", "text", "")),
        templates=templates,
    )
    _check_references(setup, data, registry, problems)
    if problems.items:
        raise BadInput(problems.items)
    return setup


def _duplicates(kind: str, ids: list[str], problems: Problems) -> None:
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            problems.add(f'{kind} "{ident}"', "id: appears twice")
        seen.add(ident)


def _check_references(setup: Setup, data: dict[str, Any], registry: Registry,
                      problems: Problems) -> None:
    """The rules across sections: ids, bindings, ranks, references (SEMANTICS.md §1)."""
    _duplicates("pool", [p.id for p in setup.pools], problems)
    _duplicates("hierarchy", [h.id for h in setup.hierarchies], problems)
    _duplicates("letter_sequence", [s.id for s in setup.letter_sequences], problems)
    _duplicates("sales_group", [g.id for g in setup.sales_groups], problems)
    _duplicates("collections_agent", [a.id for a in setup.collections_agents], problems)
    written: dict[str, set[str]] = {}  # the template ids in the file, valid or not
    for section in registry.template_sections():
        raw = [e.get("id") for e in _tables(data, section, problems) if isinstance(e, dict)]
        _duplicates(section, [i for i in raw if isinstance(i, str)], problems)
        written[section] = {i for i in raw if isinstance(i, str)}

    pools = {p.id for p in setup.pools}
    bound: dict[str, str] = {}
    ranks: dict[int, str] = {}
    for hierarchy in setup.hierarchies:
        place = f'hierarchy "{hierarchy.id}"'
        if not hierarchy.pool:
            pass  # reported as required
        elif hierarchy.pool not in pools:
            problems.add(place, f'pool: no pool "{hierarchy.pool}" (defined: {names(pools)})')
        elif hierarchy.pool in bound:
            problems.add(place, f'pool: pool "{hierarchy.pool}" is already bound to hierarchy '
                         f'"{bound[hierarchy.pool]}"; a pool is bound to at most one hierarchy')
        bound.setdefault(hierarchy.pool, hierarchy.id)
        if hierarchy.rank and hierarchy.rank in ranks:
            problems.add(place, f'rank: {hierarchy.rank} is also the rank of hierarchy '
                         f'"{ranks[hierarchy.rank]}"; ranks must differ')
        ranks.setdefault(hierarchy.rank, hierarchy.id)
        if hierarchy.use_prediction and setup.parameters.prediction_activity is None:
            problems.add(place, "use_prediction: needs parameters.prediction_activity, the "
                         "activity_template of the activities predictions create")
        for index, step in enumerate(hierarchy.steps, 1):
            if step.action not in registry.action_types:
                continue  # reported as unknown
            _check_step(setup, registry, f'{place}, step {index} ("{step.description}")',
                        step, problems, written)

    for pool in setup.pools:
        _check_options(f'pool "{pool.id}"', pool.criteria, registry.pool_criteria, setup,
                       problems)
    for hierarchy in setup.hierarchies:
        _check_options(f'hierarchy "{hierarchy.id}": exclude', hierarchy.exclude,
                       registry.exclusion_rules, setup, problems)

    sequences = {s.id for s in setup.letter_sequences}
    default = setup.parameters.default_letter_sequence
    if default is not None and default not in sequences:
        problems.add("parameters", f'default_letter_sequence: no letter_sequence "{default}" '
                     f"(defined: {names(sequences)})")
    for action in registry.action_types.values():
        section = action.template_section
        if section is not None and action.check_template is not None:
            for template in setup.templates.get(section, {}).values():
                for problem in action.check_template(template, setup):
                    problems.add(f'{section} "{template.id}"', problem)
        if action.check_setup is not None:
            for problem in action.check_setup(setup):
                problems.add("", problem)


def _check_options(place: str, values: Mapping[str, Any], declared: Mapping[str, Any],
                   setup: Setup, problems: Problems) -> None:
    for name, value in values.items():
        check = declared[name].check
        for problem in check(value, setup) if check is not None else ():
            problems.add(f"{place}: {name}", problem)


def _check_step(setup: Setup, registry: Registry, place: str, step: Step,
                problems: Problems, written: dict[str, set[str]]) -> None:
    action = registry.action_types[step.action]
    if action.template_section is None and step.document is not None:
        problems.add(place, f'document: action type "{step.action}" takes no document (it '
                     "has no templates); leave the key out")
    if action.template_section is not None:
        available = setup.templates.get(action.template_section, {})
        if step.document is None:
            problems.add(place, f"document: is required: the id of a [[{action.template_section}]]")
        elif step.document not in available and \
                step.document not in written.get(action.template_section, ()):  # else reported
            problems.add(place, f'document: no {action.template_section} "{step.document}" '
                         f"(defined: {names(available)})")
    if action.check_step is not None:
        for problem in action.check_step(step, setup):
            problems.add(place, problem)


def read(path: Path, registry: Registry) -> Setup:
    """Read and validate a setup file; BadInput names *path* in every problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise BadInput(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{path}: not valid TOML: {error}") from None
    return parse(data, registry, str(path), path.parent)


# --- back to a document ------------------------------------------------------------


def to_document(setup: Setup, registry: Registry) -> dict[str, Any]:
    """The setup in the setup file's own shape: what ``show`` prints and the database keeps.

    Pool criteria and exclusion rules are written back with the plugins'
    ``unparse`` (by default the parsed value as is); amounts become strings.
    """
    def clean(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    document: dict[str, Any] = {"parameters": converter.unstructure(setup.parameters)}
    if setup.company != Company():
        document["company"] = converter.unstructure(setup.company)
    document["pool"] = [
        {"id": p.id, "description": p.description,
         **{k: registry.pool_criteria[k].unparse(v) for k, v in p.criteria.items()}}
        for p in setup.pools
    ]
    hierarchies = []
    for h in setup.hierarchies:
        entry = converter.unstructure(h)
        entry["exclude"] = {k: registry.exclusion_rules[k].unparse(v)
                            for k, v in h.exclude.items()}
        steps = []
        for step in entry.pop("steps"):
            step.update(step.pop("options"))
            steps.append(step)
        entry["step"] = steps
        hierarchies.append(entry)
    document["hierarchy"] = hierarchies
    document["letter_sequence"] = [
        {"id": s.id, "description": s.description,
         **({"currency": s.currency} if s.currency else {}),
         "letter": [{k: v for k, v in converter.unstructure(letter).items()
                     if not (k == "text" and not v)} for letter in s.letters]}
        for s in setup.letter_sequences
    ]
    document["sales_group"] = [converter.unstructure(g) for g in setup.sales_groups]
    document["collections_agent"] = [converter.unstructure(a) for a in setup.collections_agents]
    for section, templates in setup.templates.items():
        document[section] = [converter.unstructure(t) for t in templates.values()]
    return clean({k: v for k, v in document.items() if v != []})


# --- in the database ---------------------------------------------------------------


def save(connection: Connection, setup: Setup, registry: Registry, source: str) -> None:
    """Store *setup* as the one in force (inside the caller's transaction)."""
    table = schema.setup
    connection.execute(table.insert().values(
        loaded_at=utcnow(), source=source,
        document=json.dumps(to_document(setup, registry), ensure_ascii=False),
    ))


def stored_parameters(connection: Connection) -> dict[str, Any] | None:
    """The stored setup's ``[parameters]`` as stored; None when no setup is stored.

    Read alone, not checked against the plugins installed: a command that needs no
    more than a parameter (setting a status, closing an activity, importing) works
    with a plugin left out.
    """
    document = connection.execute(
        select(schema.setup.c.document).order_by(schema.setup.c.id.desc()).limit(1)).scalar()
    return None if document is None else dict(json.loads(document).get("parameters") or {})


def today(connection: Connection) -> date:
    """Today in the stored setup's timezone; the machine's date when none is stored."""
    parameters = stored_parameters(connection)
    if parameters is None:
        return date.today()
    return clock.today(parameters.get("timezone", Parameters().timezone))


def stored(connection: Connection, registry: Registry) -> Setup | None:
    """The setup in force, or None if none was ever loaded."""
    table = schema.setup
    document = connection.execute(
        select(table.c.document).order_by(table.c.id.desc()).limit(1)
    ).scalar()
    if document is None:
        return None
    return parse(json.loads(document), registry, "the stored setup")
