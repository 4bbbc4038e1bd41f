"""Collection letters as documents (SEMANTICS.md §5): ``arrears letters export DIR``,
the built-in ``render_document`` (``arrears.plugins.documents``), its template, texts,
page sizes and the per-code ``text`` and ``template`` of the setup."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from arrears.core import documents
from arrears.core.hookspecs import hookimpl


def _weasyprint_problem() -> str | None:
    try:
        import weasyprint

        weasyprint.HTML(string="<p>x</p>").write_pdf()
    except (ImportError, OSError) as error:
        return (f"WeasyPrint cannot run here ({error}); install libpango-1.0-0 "
                "libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core")
    return None


WEASYPRINT_PROBLEM = _weasyprint_problem()
needs_pdf = pytest.mark.skipif(WEASYPRINT_PROBLEM is not None,
                               reason=WEASYPRINT_PROBLEM or "")

CUSTOMERS = (
    "account,name,currency,language,country,address\n"
    'C1,Fabrikam Inc.,USD,en,US,"12 Harbour Road\nSeattle, WA 98101"\n'
    'C2,Nordisk Handel AB,SEK,sv,SE,"Storgatan 1\n111 22 Stockholm"\n'
    'C3,<b>Evil & Co</b>,USD,en,US,"<i>1 Hack Lane</i>"\n'
    "BIG,Big Buyer Ltd,USD,en,GB,1 Long Road\n"
    "ACME/01,Acme,USD,,,\n"
)
BIG_INVOICES = 60


def invoices_csv() -> str:
    rows = ["number,customer,invoice_date,due_date,amount,currency",
            "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD",
            "INV-2,C1,2024-12-20,2025-01-20,500.00,USD",
            "SE-1,C2,2024-12-16,2025-01-15,1000.00,SEK",
            "EV-1,C3,2024-12-16,2025-01-15,100.00,USD",
            "A-1,ACME/01,2024-12-16,2025-01-15,50.00,USD"]
    rows += [f"B-{n:03d},BIG,2024-12-01,2025-01-10,10.00,USD"
             for n in range(1, BIG_INVOICES + 1)]
    return "\n".join(rows) + "\n"


class Book:
    """A database with posted letters, and a way to reload the setup with changes."""

    def __init__(self, cli: Any, folder: Path, data: Path):
        self.cli = cli
        self.folder = folder
        self.data = data

    def load(self, change: Callable[[dict[str, Any]], None] | None = None) -> Any:
        document = tomllib.loads((self.data / "setup.toml").read_text())
        document["email_template"][0]["body"]["en"]["html"] = "<p>{{ invoice.number }}</p>"
        if change is not None:
            change(document)
        path = self.folder / "setup.toml"
        path.write_text(tomli_w.dumps(document))
        return self.cli("setup", "load", path)

    def export(self, *args: str, code: int = 0) -> Any:
        return self.cli("letters", "export", *args).assert_exit(code)

    def letters(self, customer: str) -> list[dict[str, Any]]:
        return self.cli("letters", "--customer", customer, "--format", "json"
                        ).assert_success().json()["letters"]


@pytest.fixture
def book(arrears_cli, tmp_path: Path, data: Path) -> Book:
    """Letters posted on 2025-01-16 (LETTER1 to everyone) and 2025-01-22 (LETTER2)."""
    folder = tmp_path / "book"
    folder.mkdir()
    made = Book(arrears_cli, folder, data)
    made.load().assert_success()
    for kind, content in (("customers", CUSTOMERS), ("invoices", invoices_csv())):
        path = folder / f"{kind}.csv"
        path.write_text(content)
        arrears_cli("import", kind, path).assert_success()
    for day in ("2025-01-16", "2025-01-22"):
        arrears_cli("letters", "create", "--as-of", day).assert_success()
    return made


def letter_id(book: Book, customer: str, code: str) -> int:
    return next(e["id"] for e in book.letters(customer) if e["code"] == code)


def pdf_pages(path: Path) -> list[str]:
    """The text of each page, whitespace (no-break spaces included) made single spaces."""
    pypdf = pytest.importorskip("pypdf")
    return [" ".join((page.extract_text() or "").split())
            for page in pypdf.PdfReader(path).pages]


# --- PDF ------------------------------------------------------------------------------------


@needs_pdf
def test_a_pdf_letter_shows_who_what_and_how_much(book, tmp_path):
    out = tmp_path / "letters"
    result = book.export(str(out), "--customer", "C1")
    number = letter_id(book, "C1", "LETTER2")
    path = out / f"C1-LETTER2-{number}.pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    [page] = pdf_pages(path)  # one page, so no page numbers
    for expected in ("Contoso Ltd", "1 Main Street", "Springfield",
                     "Fabrikam Inc.", "12 Harbour Road", "Seattle, WA 98101",
                     "Payment reminder", "Customer number C1",
                     "INV-1", "Dec 16, 2024", "Jan 15, 2025",
                     "INV-2", "Dec 20, 2024", "Jan 20, 2025",
                     "$1,000.00", "$500.00",
                     "Total overdue $1,500.00", "Reminder fee $5.00",
                     "Amount to pay $1,505.00"):
        assert expected in page, (expected, page)
    assert "INV-1 Dec 16, 2024 Jan 15, 2025 7 $1,000.00" in page  # 7 days overdue on Jan 22
    assert "Page 1" not in page
    assert "2 letters exported as pdf" in result.stdout


@needs_pdf
def test_the_code_s_text_from_the_setup_is_rendered_with_the_letter_s_values(book, tmp_path):
    def texts(document: dict[str, Any]) -> None:
        letter2 = document["letter_sequence"][0]["letter"][1]
        letter2["text"] = {
            "en": "Second notice for {{ customer.name }}: {{ invoices|length }} invoices, "
                  "{{ letter.amount_due }} in all.\n\nPlease pay today.",
            "sv": "Andra påminnelsen till {{ customer.name }}.",
        }

    book.load(texts).assert_success()
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C1")
    [page] = pdf_pages(out / f"C1-LETTER2-{letter_id(book, 'C1', 'LETTER2')}.pdf")
    assert "Second notice for Fabrikam Inc.: 2 invoices, $1,505.00 in all." in page
    assert "Please pay today." in page
    assert "According to our records" not in page  # the built-in text is replaced
    [first] = pdf_pages(out / f"C1-LETTER1-{letter_id(book, 'C1', 'LETTER1')}.pdf")
    assert "According to our records" in first  # LETTER1 has no text of its own


@needs_pdf
def test_a_swedish_customer_gets_a_swedish_letter(book, tmp_path):
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C2")
    [page] = pdf_pages(out / f"C2-LETTER2-{letter_id(book, 'C2', 'LETTER2')}.pdf")
    for expected in ("Betalningspåminnelse", "Nordisk Handel AB", "Storgatan 1",
                     "111 22 Stockholm", "Fakturadatum", "Förfallodatum", "SE-1",
                     "16 dec. 2024", "15 jan. 2025",
                     "Summa förfallet 1 000,00 kr", "Påminnelseavgift 5,00 kr",
                     "Belopp att betala 1 005,00 kr", "Med vänliga hälsningar"):
        assert expected in page, (expected, page)
    assert "Payment reminder" not in page


@needs_pdf
def test_a_long_letter_numbers_its_pages_and_repeats_the_table_header(book, tmp_path):
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "BIG")
    pages = pdf_pages(out / f"BIG-LETTER1-{letter_id(book, 'BIG', 'LETTER1')}.pdf")
    assert len(pages) >= 2
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page
        assert "Invoice Invoice date Due date Days overdue Open amount" in page
    text = " ".join(pages)
    for n in range(1, BIG_INVOICES + 1):
        assert f"B-{n:03d}" in text
    assert "Total overdue £600.00" in pages[-1] or "Total overdue US$600.00" in pages[-1]
    assert "Amount to pay" in pages[-1]


@needs_pdf
def test_page_size_is_a4_or_letter_from_the_setup(book, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    number = letter_id(book, "C1", "LETTER1")

    def size(folder: Path) -> tuple[float, float]:
        box = pypdf.PdfReader(folder / f"C1-LETTER1-{number}.pdf").pages[0].mediabox
        return round(float(box.width)), round(float(box.height))

    book.export(str(tmp_path / "a4"), "--customer", "C1")
    assert size(tmp_path / "a4") == (595, 842)  # A4 by default

    def letter_paper(document: dict[str, Any]) -> None:
        document["parameters"]["letter_page_size"] = "letter"

    book.load(letter_paper).assert_success()
    shown = book.cli("setup", "show", "--format", "json").assert_success().json()
    assert shown["parameters"]["letter_page_size"] == "Letter"
    book.export(str(tmp_path / "letter"), "--customer", "C1")
    assert size(tmp_path / "letter") == (612, 792)


@needs_pdf
def test_the_first_page_as_a_picture(book, tmp_path):
    """For a person to look at: page 1 of a letter as PNG (docs/letter-example.png)."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed (Debian: poppler-utils)")
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C1")
    pdf = out / f"C1-LETTER2-{letter_id(book, 'C1', 'LETTER2')}.pdf"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)
    [png] = tmp_path.glob("page*.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert png.stat().st_size > 5_000  # not a blank page


@needs_pdf
def test_many_letters_are_rendered_by_worker_processes(book, tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "POOL_MIN", 2)
    out = tmp_path / "letters"
    result = book.export(str(out), "--jobs", "2", "--format", "json").json()
    assert result["jobs"] == 2 and result["errors"] == []
    files = sorted(Path(f["file"]) for f in result["files"])
    assert len(files) == 10  # five customers, two letters each
    assert sorted(out.iterdir()) == files  # nothing else (no partial files)
    for path in files:
        assert path.read_bytes().startswith(b"%PDF-")
    evil = next(p for p in files if p.name.startswith("C3-LETTER1"))
    assert "<b>Evil & Co</b>" in pdf_pages(evil)[0]  # the name as written, as text


# --- HTML, names, filters ---------------------------------------------------------------


def test_html_letters_escape_what_the_data_says(book, tmp_path):
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C3", "--as", "html")
    html = (out / f"C3-LETTER1-{letter_id(book, 'C3', 'LETTER1')}.html").read_text()
    assert "&lt;b&gt;Evil &amp; Co&lt;/b&gt;" in html
    assert "&lt;i&gt;1 Hack Lane&lt;/i&gt;" in html
    assert "<b>Evil" not in html and "<i>1 Hack" not in html
    assert "@page { size: A4; }" in html  # the page size, for printing from a browser


def test_files_are_named_after_customer_code_and_letter(book, tmp_path):
    out = tmp_path / "new" / "folder"  # made when missing
    result = book.export(str(out), "--as", "html", "--format", "json").json()
    ids = {(e["customer"], e["code"]): e["id"] for c in ("C1", "C2", "C3", "BIG", "ACME/01")
           for e in book.letters(c)}
    expected = {f"{c.replace('/', '_')}-{code}-{number}.html" for (c, code), number in ids.items()}
    assert {p.name for p in out.iterdir()} == expected
    assert f"ACME_01-LETTER1-{ids[('ACME/01', 'LETTER1')]}.html" in expected
    assert {(f["customer"], f["code"]) for f in result["files"]} == set(ids)
    assert result["format"] == "html" and result["errors"] == []


def test_the_customer_filter(book, tmp_path):
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C2", "--as", "html")
    assert sorted(p.name.split("-")[:2] for p in out.iterdir()) == [
        ["C2", "LETTER1"], ["C2", "LETTER2"]]
    unknown = book.export(str(out), "--customer", "NOPE", code=2)
    assert 'no customer "NOPE"' in unknown.stderr


def test_exporting_again_replaces_the_files(book, tmp_path):
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C1", "--as", "html")
    before = sorted(out.iterdir())
    book.export(str(out), "--customer", "C1", "--as", "html")
    assert sorted(out.iterdir()) == before


def test_no_letters_means_nothing_to_export(arrears_cli, tmp_path, data):
    path = tmp_path / "setup.toml"
    document = tomllib.loads((data / "setup.toml").read_text())
    document["email_template"][0]["body"]["en"]["html"] = "<p>x</p>"
    path.write_text(tomli_w.dumps(document))
    arrears_cli("setup", "load", path).assert_success()
    result = arrears_cli("letters", "export", str(tmp_path / "out")).assert_success()
    assert "no letters to export" in result.stdout
    assert list((tmp_path / "out").iterdir()) == []


def test_letter_lines_carry_invoice_date_and_days_overdue(book):
    [letter1, letter2] = book.letters("C1")
    assert [(i["number"], i["invoice_date"], i["days_overdue"]) for i in letter2["invoices"]] \
        == [("INV-1", "2024-12-16", 7), ("INV-2", "2024-12-20", 2)]
    assert letter1["invoices"][0]["days_overdue"] == 1


# --- the setup: per-code template and text, page size ----------------------------------------


FINAL = """<!DOCTYPE html><html><head><style>{{ stylesheet }}</style></head><body>
<h1>FINAL DEMAND</h1><p>{{ customer.name }}, {{ customer.account }}</p>
<p>{{ text }}</p>
{% for line in invoices %}<p class="line">{{ line.number }} {{ line.open_amount }}</p>{% endfor %}
<p>{{ t.amount_due }}: {{ letter.amount_due }} ({{ format_money(document.letter.fee) }} fee)</p>
</body></html>
"""


def test_a_code_s_template_replaces_the_built_in_letter(book, tmp_path):
    (book.folder / "final.html").write_text(FINAL)

    def final(document: dict[str, Any]) -> None:
        document["letter_sequence"][0]["letter"][1]["template"] = "final.html"

    book.load(final).assert_success()
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C3", "--as", "html")
    html = (out / f"C3-LETTER2-{letter_id(book, 'C3', 'LETTER2')}.html").read_text()
    assert "<h1>FINAL DEMAND</h1>" in html
    assert "<p>&lt;b&gt;Evil &amp; Co&lt;/b&gt;, C3</p>" in html
    assert '<p class="line">EV-1 $100.00</p>' in html
    assert "Amount to pay: $105.00 ($5.00 fee)" in html
    letter1 = (out / f"C3-LETTER1-{letter_id(book, 'C3', 'LETTER1')}.html").read_text()
    assert "FINAL DEMAND" not in letter1 and "Payment reminder" in letter1

    # the stored setup keeps the template's text, and shows it back
    shown = book.cli("setup", "show", "--format", "json").assert_success().json()
    assert shown["letter_sequence"][0]["letter"][1]["template"] == FINAL
    assert "text" not in shown["letter_sequence"][0]["letter"][0]


@needs_pdf
def test_a_code_s_template_renders_to_pdf_on_the_setup_s_page_size(book, tmp_path):
    def final(document: dict[str, Any]) -> None:
        document["letter_sequence"][0]["letter"][1]["template"] = FINAL
        document["parameters"]["letter_page_size"] = "Letter"

    book.load(final).assert_success()
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C1")
    pypdf = pytest.importorskip("pypdf")
    path = out / f"C1-LETTER2-{letter_id(book, 'C1', 'LETTER2')}.pdf"
    page = pypdf.PdfReader(path).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (612, 792)
    assert "FINAL DEMAND" in pdf_pages(path)[0]


def test_a_template_that_fails_fails_its_letters_only(book, tmp_path):
    def broken(document: dict[str, Any]) -> None:
        document["letter_sequence"][0]["letter"][1]["template"] = "<p>{{ customer.nmae }}</p>"

    book.load(broken).assert_success()  # it compiles; the name is wrong only when rendered
    out = tmp_path / "letters"
    result = book.export(str(out), "--customer", "C1", "--as", "html", code=1)
    number = letter_id(book, "C1", "LETTER2")
    assert f"failed: letter {number} (C1, LETTER2): template: 'dict object' has no " \
           "attribute 'nmae'" in result.stdout
    assert [p.name.split("-")[1] for p in out.iterdir()] == ["LETTER1"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda letter: letter.update(template="<p>{% if %}</p>"),
     'letter_sequence "STD", letter 2 ("LETTER2"): template: template error on line 1:'),
    (lambda letter: letter.update(template="missing.html"),
     'letter_sequence "STD", letter 2 ("LETTER2"): template: cannot read'),
    (lambda letter: letter.update(template=3),
     'letter_sequence "STD", letter 2 ("LETTER2"): template: expected HTML or the name'),
    (lambda letter: letter.update(text="Pay"),
     'letter_sequence "STD", letter 2 ("LETTER2"): text: expected a table of language'),
    (lambda letter: letter.update(text={"en": "{{ oops"}),
     'letter_sequence "STD", letter 2 ("LETTER2"): text.en: template error'),
    (lambda letter: letter.update(text={"en": 5}),
     'letter_sequence "STD", letter 2 ("LETTER2"): text.en: expected a string, got 5'),
])
def test_bad_letter_templates_and_texts_are_refused(book, change, message):
    def mutate(document: dict[str, Any]) -> None:
        change(document["letter_sequence"][0]["letter"][1])

    refused = book.load(mutate).assert_exit(2)
    assert message in refused.stderr, refused.stderr


def test_a_page_size_other_than_a4_or_letter_is_refused(book):
    def legal(document: dict[str, Any]) -> None:
        document["parameters"]["letter_page_size"] = "Legal"

    refused = book.load(legal).assert_exit(2)
    assert 'parameters: letter_page_size: expected "A4" or "Letter", got "Legal"' in refused.stderr


def test_text_and_template_round_trip_through_setup_show(book, tmp_path):
    def both(document: dict[str, Any]) -> None:
        letter = document["letter_sequence"][0]["letter"][2]
        letter["text"] = {"en": "Final: {{ letter.amount_due }}",
                          "sv": "Sista: {{ letter.amount_due }}"}
        letter["template"] = FINAL

    book.load(both).assert_success()
    first = book.cli("setup", "show", "--format", "json").assert_success().json()
    again = tmp_path / "again.toml"
    again.write_text(book.cli("setup", "show").assert_success().stdout)
    book.cli("setup", "load", again).assert_success()
    assert book.cli("setup", "show", "--format", "json").json() == first
    texts = first["letter_sequence"][0]["letter"][2]["text"]
    assert texts["sv"] == "Sista: {{ letter.amount_due }}"


# --- the hook -------------------------------------------------------------------------------


def test_a_plugin_may_render_letters_its_own_way(book, arrears_plugin, tmp_path):
    seen: list[Any] = []

    @hookimpl
    def render_document(document, fmt, context):
        if fmt != "html":
            return None
        seen.append((document, context))
        return f"<p>{document.customer.name} {document.letter.code} {document.page_size}</p>"

    arrears_plugin(render_document)
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C1", "--as", "html")
    contents = sorted(p.read_text() for p in out.iterdir())
    assert contents == ["<p>Fabrikam Inc. LETTER1 A4</p>", "<p>Fabrikam Inc. LETTER2 A4</p>"]
    document, context = seen[0]
    assert document.company.name == "Contoso Ltd"
    assert document.customer.address == "12 Harbour Road\nSeattle, WA 98101"
    assert (document.code.code, str(document.code.fee), document.sequence.id) == (
        "LETTER1", "0.00", "STD")
    assert context.as_of == document.letter.date


def test_without_a_renderer_the_export_says_so(book, arrears_pm, tmp_path):
    arrears_pm.unregister(name="documents")
    result = book.export(str(tmp_path / "letters"), "--customer", "C1", code=1)
    assert "no installed plugin renders collection letters as pdf" in result.stderr


def test_the_built_in_renderer_answers_only_for_letters_in_html_and_pdf(book, arrears_pm):
    from arrears.plugins import documents as builtin

    assert builtin.render_document(document="a message", fmt="html", context=None) is None
    assert builtin.render_document(document=None, fmt="docx", context=None) is None


def test_export_json_lists_files_and_failures(book, tmp_path):
    out = tmp_path / "letters"
    result = json.loads(book.export(str(out), "--customer", "C2", "--as", "html",
                                    "--format", "json").stdout)
    assert set(result) == {"directory", "format", "jobs", "seconds", "files", "errors"}
    assert [(f["customer"], f["code"]) for f in result["files"]] == [
        ("C2", "LETTER1"), ("C2", "LETTER2")]


def test_the_code_s_text_follows_the_customer_s_language_first():
    """A code's text in the customer's language wins even where the built-in words
    fall back to English; amounts and dates follow the letter's locale."""
    from datetime import date
    from decimal import Decimal

    from arrears.core.domain import Company, Customer, LetterCode, LetterDocument
    from arrears.core.records import LetterLine, LetterRow
    from arrears.plugins.documents import letter_html

    row = LetterRow(7, "D1", "LETTER1", "STD", date(2025, 1, 20), "EUR",
                    [LetterLine("R-1", date(2025, 1, 10), Decimal("1234.50"), "EUR",
                                date(2024, 12, 10), 10)],
                    Decimal("1234.50"), Decimal("0.00"), None, None, None)
    code = LetterCode("LETTER1", 1, text={"de": "Bitte zahlen Sie {{ letter.total }}.",
                                          "en": "Please pay."})

    def html(language: str | None) -> str:
        customer = Customer("D1", "Müller GmbH", "EUR", country="DE", language=language)
        return letter_html(LetterDocument(row, customer, Company("Contoso"), code))

    german = html("de")
    assert "Bitte zahlen Sie 1.234,50\xa0€." in german  # de_DE: the text's own values
    assert "Payment reminder" in german  # no built-in German words: English frame
    assert "Please pay." in html("fr")  # no French text: the English one
    assert "Please pay." in html(None)


def test_a_code_s_text_may_come_from_a_file_next_to_the_setup(book, tmp_path):
    (book.folder / "letter2_sv.txt").write_text("Hej {{ customer.name }}!\n\nBetala {{ "
                                                "letter.amount_due }}.\n", encoding="utf-8")

    def from_file(document: dict[str, Any]) -> None:
        document["letter_sequence"][0]["letter"][1]["text"] = {"sv": "letter2_sv.txt"}

    book.load(from_file).assert_success()
    out = tmp_path / "letters"
    book.export(str(out), "--customer", "C2", "--as", "html")
    html = (out / f"C2-LETTER2-{letter_id(book, 'C2', 'LETTER2')}.html").read_text()
    assert "<p>Hej Nordisk Handel AB!</p><p>Betala 1\xa0005,00\xa0kr.</p>" in html


@needs_pdf
def test_a_letter_loads_no_local_file_but_an_image_and_nothing_from_the_network(book, tmp_path):
    """A setup's letter text or template must not embed the environment or a password file
    in a letter posted to a customer, nor make this machine fetch URLs; a logo still loads."""
    import base64
    import http.server
    import threading

    asked: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    logo = tmp_path / "logo.png"
    logo.write_bytes(base64.b64decode(  # a 1x1 PNG
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="))
    port = server.server_address[1]
    text = (f'Pay now. <a rel="attachment" href="file://{secret}">x</a>'
            f'<link rel="attachment" href="file:///proc/self/environ">'
            f'<img src="http://127.0.0.1:{port}/tracker.png">'
            f'<img src="file://{logo}" alt="logo">')

    def hostile(document: dict[str, Any]) -> None:
        document["letter_sequence"][0]["letter"][0]["text"] = {"en": text}

    book.load(hostile).assert_success()  # the letters already posted are exported with it
    out = tmp_path / "letters"
    try:
        book.export(str(out), "--customer", "C1")
    finally:
        server.shutdown()
    pdfs = sorted(out.glob("*.pdf"))
    assert pdfs and asked == []
    for pdf in pdfs:
        raw = pdf.read_bytes()
        assert b"TOP-SECRET-VALUE" not in raw and b"PATH=" not in raw
        assert b"/EmbeddedFile" not in raw
    pypdf = pytest.importorskip("pypdf")
    images = [image for pdf in pdfs for page in pypdf.PdfReader(pdf).pages
              for image in page.images]
    assert images  # the logo, from a file:// path to an image


def test_a_file_name_is_cut_in_bytes_not_characters(book, tmp_path):
    """100 characters of 4 bytes each made a 400-byte name, which no file system takes."""
    account = "\U0001d538" * 100
    for kind, content in (("customers", f"account,name,currency\n{account},Wide,USD\n"),
                          ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                                       f"W-1,{account},2024-12-16,2025-01-15,10.00,USD\n")):
        path = book.folder / f"more-{kind}.csv"
        path.write_text(content)
        book.cli("import", kind, path).assert_success()
    book.cli("letters", "create", "--as-of", "2025-01-23").assert_success()
    out = tmp_path / "letters"
    result = book.export(str(out), "--customer", account, "--as", "html", "--format", "json")
    [written] = [p.name for p in out.iterdir()]
    assert len(written.encode()) <= 255 and written.startswith("\U0001d538" * 20)
    assert result.json()["errors"] == []


@pytest.mark.parametrize("amount, currency, locale, shown", [
    ("1234.56", "RSD", "sr_RS", "1.234,56\xa0RSD"),  # Babel alone: 1.235 RSD
    ("1234", "JPY", "ja", "￥1,234"),
    ("1234.5", "USD", "en_US", "$1,234.50"),
    ("1234.56", "SEK", "sv_SE", "1\xa0234,56\xa0kr"),
])
def test_a_letter_shows_amounts_with_their_currency_s_decimals(amount, currency, locale,
                                                               shown):
    from decimal import Decimal

    from babel import Locale

    from arrears.plugins.documents import money_text

    assert money_text(Decimal(amount), currency, Locale.parse(locale)) == shown
