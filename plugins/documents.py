"""Collection letters as documents: HTML from a sandboxed Jinja2 template, PDF from that HTML.

``render_document`` answers for a :class:`~arrears.core.domain.LetterDocument`
in ``html`` (a str) and ``pdf`` (bytes, through WeasyPrint); for anything else
it returns None, so another plugin may answer. It is ``trylast``: an installed
plugin rendering letters its own way answers first.

The letter is written in the customer's language when the built-in texts have
it (:data:`TEXTS`: English and Swedish), else in English; amounts and dates are
formatted for that language and the customer's country (Babel, CLDR). The
template is ``arrears/core/templates/letter.html`` with ``letter.css``, or the
letter code's own ``template`` from the setup; the code's ``text`` (in the
letter's language, else English) is rendered with the same variables.
docs/letters.md lists the variables.

PDF pages are ``parameters.letter_page_size`` (A4 or Letter). A letter that
needs more than one page is laid out again with "Page N of M" at the bottom
right of every page; the invoice table's header repeats on each page.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import NumberPattern
from jinja2 import TemplateError
from markupsafe import Markup

from arrears.core import hookimpl, templating
from arrears.core import money as amounts
from arrears.core.context import Context
from arrears.core.documents import DocumentUnavailable
from arrears.core.domain import LetterDocument
from arrears.core.errors import ArrearsError

FORMATS = ("html", "pdf")
DEFAULT_LANGUAGE = "en"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Payment reminder",
        "date": "Date",
        "customer_number": "Customer number",
        "reference": "Reference",
        "invoice": "Invoice",
        "invoice_date": "Invoice date",
        "due_date": "Due date",
        "days_overdue": "Days overdue",
        "open_amount": "Open amount",
        "total": "Total overdue",
        "fee": "Reminder fee",
        "amount_due": "Amount to pay",
        "text": "According to our records, the invoices below are overdue. "
                "Please pay the amount due as soon as possible.",
        "closing": "If you have already paid, please disregard this letter. If you have "
                   "questions about the invoices, please contact us.",
        "regards": "Kind regards,",
        "page": "Page",
        "of": "of",
    },
    "sv": {
        "title": "Betalningspåminnelse",
        "date": "Datum",
        "customer_number": "Kundnummer",
        "reference": "Referens",
        "invoice": "Faktura",
        "invoice_date": "Fakturadatum",
        "due_date": "Förfallodatum",
        "days_overdue": "Dagar sen",
        "open_amount": "Att betala",
        "total": "Summa förfallet",
        "fee": "Påminnelseavgift",
        "amount_due": "Belopp att betala",
        "text": "Enligt våra noteringar är fakturorna nedan förfallna till betalning. "
                "Vänligen betala det förfallna beloppet snarast.",
        "closing": "Om du redan har betalat kan du bortse från detta brev. Kontakta oss "
                   "gärna om du har frågor om fakturorna.",
        "regards": "Med vänliga hälsningar",
        "page": "Sida",
        "of": "av",
    },
}


@hookimpl(trylast=True)
def render_document(document: Any, fmt: str, context: Context) -> bytes | str | None:
    """Render a collection letter as ``html`` or ``pdf``; None for anything else."""
    if not isinstance(document, LetterDocument) or fmt not in FORMATS:
        return None
    if fmt == "html":
        return letter_html(document)
    # The built-in stylesheet goes to WeasyPrint parsed once, not inline in every letter.
    own_template = document.code is not None and document.code.template is not None
    html = letter_html(document, inline_stylesheet=own_template)
    return html_to_pdf(html, document.page_size, TEXTS[letter_language(document)],
                       builtin_stylesheet=not own_template)


# --- HTML ------------------------------------------------------------------------------


def letter_language(document: LetterDocument) -> str:
    """The customer's language when the built-in texts have it, else English."""
    return templating.language(document.customer.language, TEXTS, DEFAULT_LANGUAGE)


@cache
def letter_locale(language: str, country: str | None) -> Locale:
    """The CLDR locale for *language* in *country* when CLDR has it, else *language*'s."""
    if country:
        try:
            return Locale.parse(f"{language}_{country.strip().upper()}")
        except (ValueError, UnknownLocaleError):
            pass
    return Locale.parse(language)


@cache
def builtin(name: str) -> str:
    """A file of ``arrears.core.templates`` (the built-in letter and its stylesheet)."""
    return resources.files("arrears.core.templates").joinpath(name).read_text(encoding="utf-8")


def page_rule(page_size: str) -> str:
    return f"@page {{ size: {'letter' if page_size == 'Letter' else 'A4'}; }}"


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _paragraphs(rendered: str) -> Markup:
    """Rendered (already escaped) text as paragraphs: blank lines part them, a line
    break stays one. Text that brings its own block HTML is kept as it is."""
    if re.search(r"<(p|div|ul|ol|table|h[1-6])[\s>]", rendered, re.IGNORECASE):
        return Markup(rendered)
    blocks = [block.strip() for block in re.split(r"\n\s*\n", rendered) if block.strip()]
    return Markup("".join(f"<p>{'<br>'.join(block.splitlines())}</p>" for block in blocks))


@cache
def stylesheet(page_size: str) -> Markup:
    return Markup(builtin("letter.css") + "\n" + page_rule(page_size))


def template_values(document: LetterDocument) -> dict[str, Any]:
    """The variables of the letter template and of the code's text (docs/letters.md)."""
    letter, customer, company = document.letter, document.customer, document.company
    language = letter_language(document)
    locale = letter_locale(language, customer.country)

    def money(amount: Decimal, currency: str | None = None) -> str:
        return money_text(amount, currency or letter.currency, locale)

    def day(value: date | None) -> str:
        return format_date(value, "medium", locale=locale) if value is not None else ""

    code = document.code
    return {
        "language": language,
        "locale": str(locale),
        "t": TEXTS[language],
        "page_size": document.page_size,
        "stylesheet": stylesheet(document.page_size),
        "company": {"name": company.name, "address": company.address,
                    "address_lines": _lines(company.address)},
        "customer": {"account": customer.account, "name": customer.name,
                     "address": customer.address or "", "address_lines": _lines(customer.address),
                     "language": customer.language, "country": customer.country},
        "letter": {"id": letter.id, "code": letter.code, "sequence": letter.sequence,
                   "description": code.description if code else "",
                   "date": day(letter.date), "currency": letter.currency,
                   "total": money(letter.total), "fee": money(letter.fee),
                   "amount_due": money(letter.total + letter.fee),
                   "invoice_count": len(letter.invoices)},
        "invoices": [{"number": line.number, "invoice_date": day(line.invoice_date),
                      "due_date": day(line.due_date),
                      "days_overdue": "" if line.days_overdue is None else line.days_overdue,
                      "open_amount": money(line.open_amount, line.currency),
                      "currency": line.currency} for line in letter.invoices],
        "document": document,
        "format_money": money,
        "format_date": day,
    }


def money_text(amount: Decimal, currency: str, locale: Locale) -> str:
    """*amount* as *locale* writes *currency*, with the currency's ISO 4217 decimals: Babel
    would round to CLDR's display digits (1234.56 RSD printed as 1.235 RSD)."""
    return _currency_pattern(locale, amounts.decimals(currency)).apply(
        amount, locale, currency=currency, currency_digits=False)


@cache
def _currency_pattern(locale: Locale, digits: int) -> NumberPattern:
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    return pattern


def code_text(document: LetterDocument, language: str) -> str:
    """The code's text in the customer's language (even one the built-in words lack),
    else in the letter's *language*, else English, else its first; else the built-in."""
    texts = document.code.text if document.code is not None else {}
    for wanted in (*templating.language_variants(document.customer.language), language,
                   DEFAULT_LANGUAGE):
        if wanted in texts:
            return texts[wanted]
    if texts:
        return next(iter(texts.values()))
    return TEXTS[language]["text"]


def letter_html(document: LetterDocument, *, inline_stylesheet: bool = True) -> str:
    """The letter as one HTML page, rendered in the sandbox with autoescaping.

    Without *inline_stylesheet* the ``stylesheet`` variable is empty (the PDF
    renderer then adds the built-in stylesheet itself).
    """
    values = template_values(document)
    if not inline_stylesheet:
        values["stylesheet"] = Markup("")
    source = document.code.template if document.code and document.code.template else None
    try:
        text = templating.render(code_text(document, values["language"]), values, html=True)
        values["text"] = _paragraphs(text)
        return templating.render(source or builtin("letter.html"), values, html=True)
    except TemplateError as error:
        part = "template" if source else "text"
        raise ArrearsError(f"{part}: {getattr(error, 'message', None) or error}") from None


# --- PDF -------------------------------------------------------------------------------


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


@cache
def _weasyprint() -> Any:
    try:
        import weasyprint
    except ImportError as error:  # the module, or the system libraries it loads
        raise DocumentUnavailable(
            f"PDF letters need WeasyPrint and its system libraries ({error}); on Debian "
            "or Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            "libharfbuzz-subset0 fonts-dejavu-core") from None
    except OSError as error:
        raise DocumentUnavailable(
            f"PDF letters need WeasyPrint's system libraries ({error}); on Debian or "
            "Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 "
            "fonts-dejavu-core") from None
    return weasyprint


@cache
def _fonts() -> Any:
    """One font configuration for every letter this process renders."""
    from weasyprint.text.fonts import FontConfiguration

    _weasyprint()
    return FontConfiguration()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


@cache
def _fetcher() -> Any:
    """What a letter may load besides its own HTML: ``data:`` URIs, and image files by
    an absolute ``file://`` path (a logo). Nothing from the network and no other file:
    the letter's template comes from the setup and its text from the book, and neither
    may put a local file (the environment, a password file) into a letter that is
    posted, nor make this machine request another's."""
    from urllib.parse import unquote, urlsplit

    _weasyprint()
    from weasyprint.urls import URLFetcher

    class LetterFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            if parts.scheme.lower() == "file" and \
                    not unquote(parts.path).lower().endswith(IMAGE_SUFFIXES):
                raise ValueError(f"a letter loads no file but an image ({url})")
            return super().fetch(url, headers)

    return LetterFetcher(allowed_protocols=("data", "file"), allow_redirects=False)


@cache
def _css(source: str) -> Any:
    """A stylesheet parsed once."""
    return _weasyprint().CSS(string=source, font_config=_fonts(), url_fetcher=_fetcher())


def html_to_pdf(html: str, page_size: str, texts: dict[str, str], *,
                builtin_stylesheet: bool = False) -> bytes:
    """The PDF of *html* on *page_size* pages; numbered when there is more than one.

    With *builtin_stylesheet* the built-in letter stylesheet is added (for HTML
    rendered without it inline).
    """
    weasyprint = _weasyprint()
    sheets = [_css(builtin("letter.css"))] if builtin_stylesheet else []
    sheets.append(_css(page_rule(page_size)))
    page = weasyprint.HTML(string=html, url_fetcher=_fetcher())
    laid_out = page.render(stylesheets=sheets, font_config=_fonts())
    if len(laid_out.pages) > 1:
        numbers = (f"@page {{ @bottom-right {{ content: {_css_string(texts['page'] + ' ')} "
                   f"counter(page) {_css_string(' ' + texts['of'] + ' ')} counter(pages); }} }}")
        laid_out = page.render(stylesheets=[*sheets, _css(numbers)], font_config=_fonts())
    pdf = laid_out.write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
