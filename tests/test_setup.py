"""`arrears setup load|check|show`: every rule of the setup file, through the CLI."""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture
def write_setup(tmp_path: Path, data: Path) -> Callable[[Mutation | None], Path]:
    """Write tests/data/setup.toml, changed by a mutation, next to its HTML body."""
    shutil.copy(data / "reminder_en.html", tmp_path / "reminder_en.html")

    def write(mutate: Mutation | None = None, name: str = "setup.toml") -> Path:
        document = tomllib.loads((data / "setup.toml").read_text())
        if mutate is not None:
            mutate(document)
        path = tmp_path / name
        path.write_text(tomli_w.dumps(document))
        return path

    return write


def std(document: dict[str, Any]) -> dict[str, Any]:
    return document["hierarchy"][0]


def shown(cli: Any) -> Any:
    return cli("setup", "show", "--format", "json").assert_success().json()


def refused(cli: Any, path: Path, *expected: str) -> str:
    """Check and load both refuse *path* naming every expected problem; nothing is stored."""
    before = cli("setup", "show", "--format", "json")
    check = cli("setup", "check", path).assert_exit(2)
    load = cli("setup", "load", path).assert_exit(2)
    for message in expected:
        assert message in check.stderr, check.stderr
        assert message in load.stderr
    assert cli("setup", "show", "--format", "json").stdout == before.stdout
    return load.stderr


def test_load_then_show_round_trips_in_toml_and_json(arrears_cli, write_setup, tmp_path):
    arrears_cli("setup", "load", write_setup()).assert_success()
    first = shown(arrears_cli)
    assert [h["id"] for h in first["hierarchy"]] == ["STD", "KEYACC"]
    assert first["email_template"][0]["body"]["en"]["html"].startswith("<p>Dear")
    toml_text = arrears_cli("setup", "show").assert_success().stdout
    again = tmp_path / "again.toml"
    again.write_text(toml_text)
    arrears_cli("setup", "load", again).assert_success()
    assert shown(arrears_cli) == first
    json_file = tmp_path / "again.json.toml"
    json_file.write_text(tomli_w.dumps(first))
    arrears_cli("setup", "check", json_file).assert_success()


def test_load_replaces_the_previous_setup(arrears_cli, write_setup):
    arrears_cli("setup", "load", write_setup()).assert_success()

    def one_hierarchy(d):
        d["hierarchy"] = d["hierarchy"][:1]

    arrears_cli("setup", "load", write_setup(one_hierarchy)).assert_success()
    assert [h["id"] for h in shown(arrears_cli)["hierarchy"]] == ["STD"]


def test_check_validates_a_file_and_stores_nothing(arrears_cli, write_setup):
    arrears_cli("setup", "load", write_setup()).assert_success()
    before = shown(arrears_cli)

    def one_hierarchy(d):
        d["hierarchy"] = d["hierarchy"][:1]

    arrears_cli("setup", "check", write_setup(one_hierarchy)).assert_success()
    assert shown(arrears_cli) == before


def test_show_without_a_setup_says_how_to_load_one(arrears_cli):
    result = arrears_cli("setup", "show").assert_exit(2)
    assert "arrears setup load" in result.stderr


def test_a_pool_bound_twice_is_refused(arrears_cli, write_setup):
    def bind_twice(d):
        d["hierarchy"][1]["pool"] = "ALL"

    refused(arrears_cli, write_setup(bind_twice),
            'hierarchy "KEYACC": pool: pool "ALL" is already bound to hierarchy "STD"')


def test_two_hierarchies_with_one_rank_are_refused(arrears_cli, write_setup):
    def same_rank(d):
        d["hierarchy"][1]["rank"] = 2

    refused(arrears_cli, write_setup(same_rank),
            'hierarchy "KEYACC": rank: 2 is also the rank of hierarchy "STD"')


def test_two_pre_dunning_steps_are_refused(arrears_cli, write_setup):
    def two(d):
        std(d)["step"][1].update(pre_dunning=True, when="before", days=3)

    refused(arrears_cli, write_setup(two), 'hierarchy "STD": 2 steps are marked pre_dunning')


def test_a_pre_dunning_step_after_the_due_date_is_refused(arrears_cli, write_setup):
    def after(d):
        std(d)["step"][0]["when"] = "after"

    refused(arrears_cli, write_setup(after),
            'hierarchy "STD", step 1 ("Pre-dunning"): when: a pre-dunning step acts before')


def test_an_unknown_action_type_is_refused_naming_the_installed_ones(arrears_cli, write_setup):
    def sms(d):
        std(d)["step"][1]["action"] = "sms"

    refused(arrears_cli, write_setup(sms),
            'hierarchy "STD", step 2 ("First notice"): action: unknown action type "sms" '
            "(installed plugins declare: activity, email, letter)")


def test_when_must_be_before_or_after(arrears_cli, write_setup):
    def sometime(d):
        std(d)["step"][2]["when"] = "sometime"

    refused(arrears_cli, write_setup(sometime),
            'setup.toml: hierarchy "STD", step 3 ("Second notice"): when: '
            'expected "before" or "after", got "sometime"')


def test_negative_days_are_refused(arrears_cli, write_setup):
    def negative(d):
        std(d)["step"][3]["days"] = -2

    refused(arrears_cli, write_setup(negative),
            'hierarchy "STD", step 4 ("Final notice"): days: expected 0 or more, got -2')


def test_bad_amounts_are_refused(arrears_cli, write_setup):
    def bad(d):
        std(d)["exclude"] = {"customer_balance_below": "ten"}
        d["letter_sequence"][0]["letter"][1]["fee"] = "-5.00"

    refused(arrears_cli, write_setup(bad),
            'hierarchy "STD": exclude: customer_balance_below: "ten" is not an amount',
            'letter_sequence "STD", letter 2 ("LETTER2"): fee: expected an amount of 0 or more')


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: std(d)["step"][4].update(document="NOPE"),
     'hierarchy "STD", step 5 ("Create activity"): document: no activity_template "NOPE" '
     "(defined: CALL)"),
    (lambda d: std(d)["step"][0].update(document="NOPE"),
     'step 1 ("Pre-dunning"): document: no email_template "NOPE" (defined: REMIND)'),
    (lambda d: std(d)["step"][4].pop("document"),
     'step 5 ("Create activity"): document: is required: the id of a [[activity_template]]'),
    (lambda d: d["parameters"].update(default_letter_sequence="GOLD"),
     'parameters: default_letter_sequence: no letter_sequence "GOLD" (defined: STD)'),
    (lambda d: d["hierarchy"][1].update(pool="NOWHERE"),
     'hierarchy "KEYACC": pool: no pool "NOWHERE" (defined: ALL, KEY)'),
    (lambda d: d["pool"][1].update(sales_group="SOUTH"),
     'pool "KEY": sales_group: no sales_group "SOUTH" (defined: NORTH)'),
    (lambda d: d["pool"][1].update(collections_agent=["ANNA", "BOB"]),
     'pool "KEY": collections_agent: no collections_agent "BOB" (defined: ANNA)'),
    (lambda d: d["parameters"].update(prediction_activity="GUESS"),
     'parameters: prediction_activity: no activity_template "GUESS"'),
], ids=["activity template", "email template", "missing document", "letter sequence", "pool",
        "sales group", "collections agent", "prediction activity"])
def test_references_must_exist(arrears_cli, write_setup, mutate, message):
    refused(arrears_cli, write_setup(mutate), message)


def test_step_descriptions_and_offsets_are_unique_in_a_hierarchy(arrears_cli, write_setup):
    def clash(d):
        std(d)["step"][2]["description"] = "First notice"
        std(d)["step"][3]["days"] = 15

    refused(arrears_cli, write_setup(clash),
            'step 3 ("First notice"): description: "First notice" is already the description',
            'step 5 ("Create activity"): days: after 15 days is the same offset as')


def test_recipient_rules_of_email_steps(arrears_cli, write_setup):
    def bad(d):
        std(d)["step"][0]["recipient"] = "boss"
        std(d)["step"][4]["recipient"] = "customer"

    refused(arrears_cli, write_setup(bad),
            'step 1 ("Pre-dunning"): recipient: expected one of customer, sales_group, '
            'collections_agent, got "boss"',
            'step 5 ("Create activity"): recipient: is not used by action type "activity"')


def test_a_contact_purpose_is_refused_where_it_would_be_ignored(arrears_cli, write_setup):
    def bad(d):
        std(d)["step"][0]["recipient"] = "collections_agent"  # keeps contact_purpose billing

    refused(arrears_cli, write_setup(bad),
            'step 1 ("Pre-dunning"): contact_purpose: is used only when recipient is '
            '"customer" (the collections_agent has its address in the setup)')


def test_email_template_problems_name_the_template(arrears_cli, write_setup):
    def bad(d):
        template = d["email_template"][0]
        template["default_language"] = "de"
        template["body"]["sv"]["subject"] = "Faktura {{ invoice.number "

    refused(arrears_cli, write_setup(bad),
            'email_template "REMIND": default_language: no body for "de" (bodies: en, sv)',
            'email_template "REMIND": body.sv.subject: template error')


def test_a_template_field_of_the_wrong_type_shows_its_value_once(arrears_cli, write_setup):
    def bad(d):
        d["activity_template"][0]["days_to_complete"] = "ten"

    stderr = refused(arrears_cli, write_setup(bad), 'activity_template "CALL": '
                     'days_to_complete: expected a whole number, got "ten"')
    assert len(stderr.splitlines()) == 1  # the steps naming "CALL" are not also refused


@pytest.mark.parametrize("field, value, expected", [
    ("days_to_complete", 2.5, "expected a whole number, got 2.5"),
    ("days_to_complete", True, "expected a whole number, got True"),
    ("purpose", 5, "expected a string, got 5"),
    ("details", ["Call"], "expected a string, got an array"),
])
def test_a_template_field_is_taken_as_written_not_converted(arrears_cli, write_setup, field,
                                                            value, expected):
    def bad(d):
        d["activity_template"][0][field] = value

    refused(arrears_cli, write_setup(bad), f'activity_template "CALL": {field}: {expected}')


def test_numbers_of_days_are_bounded(arrears_cli, write_setup):
    def far(d):
        d["parameters"]["history_days"] = 1_000_000
        std(d)["step"][1]["days"] = 9_999_999_999
        d["letter_sequence"][0]["letter"][0]["fee"] = "100000000000000000000"

    refused(arrears_cli, write_setup(far),
            "parameters: history_days: expected at most 36500 days (a hundred years), got "
            "1000000", "days: expected at most 36500 days (a hundred years), got 9999999999",
            'fee: "100000000000000000000" is too large')


def test_a_missing_html_file_is_named(arrears_cli, write_setup, tmp_path):
    def missing(d):
        d["email_template"][0]["body"]["en"]["html"] = "gone.html"

    refused(arrears_cli, write_setup(missing),
            f'email_template "REMIND": body: en: html: cannot read "{tmp_path / "gone.html"}"')


def test_a_body_naming_a_file_arrears_cannot_read_is_refused_not_sent_as_text(arrears_cli,
                                                                             write_setup):
    def outlook(d):
        d["email_template"][0]["body"]["en"]["html"] = "Reminder mail.msg"
        d["email_template"][0]["body"]["sv"]["html"] = "mail.eml"

    stderr = refused(arrears_cli, write_setup(outlook),
                     'email_template "REMIND": body: sv: html: "mail.eml" names a file arrears '
                     "cannot read: only .html, .htm and .txt files are (save an Outlook "
                     "message as HTML: File, Save As, HTML)")
    assert "Reminder mail.msg" not in stderr  # a sentence with spaces is text, not a file


def test_an_html_file_in_the_encoding_it_declares_is_read(arrears_cli, write_setup,
                                                          tmp_path):
    """Outlook saves a message as HTML in windows-1252, declared in a meta tag."""
    (tmp_path / "outlook.htm").write_bytes(
        '<html><head><meta http-equiv=Content-Type content="text/html; charset=windows-1252">'
        "</head><body><p>Bäste kund, {{ invoice.number }} – förfallen</p></body></html>"
        .encode("cp1252"))
    (tmp_path / "plain.htm").write_bytes("<p>Bäste kund</p>".encode("cp1252"))

    def outlook(d):
        d["email_template"][0]["body"]["sv"]["html"] = "outlook.htm"

    arrears_cli("setup", "load", write_setup(outlook)).assert_success()
    body = shown(arrears_cli)["email_template"][0]["body"]["sv"]["html"]
    assert "Bäste kund, {{ invoice.number }} – förfallen" in body

    def undeclared(d):
        d["email_template"][0]["body"]["sv"]["html"] = "plain.htm"

    refused(arrears_cli, write_setup(undeclared), 'plain.htm" is not UTF-8 text')


def test_unknown_keys_sections_and_rules_are_refused(arrears_cli, write_setup):
    def unknown(d):
        d["sms_template"] = [{"id": "S1"}]
        d["parameters"]["colour"] = "red"
        std(d)["exclude"] = {"recent_payment_days": 10}
        d["pool"][0]["planet"] = "Mars"

    refused(arrears_cli, write_setup(unknown),
            'unknown section "sms_template"',
            'parameters: unknown key "colour"',
            'hierarchy "STD": exclude: recent_payment_days: unknown exclusion rule '
            '"recent_payment_days" (installed plugins declare: customer_balance_below, '
            "invoice_amount_below)",
            'pool "ALL": planet: unknown pool criterion "planet"')


def test_every_problem_is_reported_at_once(arrears_cli, write_setup):
    def many(d):
        std(d)["step"][2]["when"] = "sometime"
        d["hierarchy"][1]["rank"] = 2
        d["parameters"]["timezone"] = "Mars/Olympus"

    message = refused(arrears_cli, write_setup(many), 'when: expected "before" or "after"',
                      'parameters: timezone: "Mars/Olympus" is not a time zone')
    assert message.count("setup.toml:") >= 2


def test_toml_syntax_errors_and_missing_files_are_bad_input(arrears_cli, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[parameters\ntrack_step = true\n")
    assert "broken.toml: not valid TOML" in refused(arrears_cli, broken)
    assert "cannot read" in refused(arrears_cli, tmp_path / "absent.toml")


def test_a_refused_load_keeps_the_stored_setup(arrears_cli, write_setup):
    arrears_cli("setup", "load", write_setup()).assert_success()
    before = shown(arrears_cli)

    def broken(d):
        d["hierarchy"][1]["rank"] = 2

    refused(arrears_cli, write_setup(broken), "rank")
    assert shown(arrears_cli) == before


def test_show_json_is_one_document_on_stdout(arrears_cli, write_setup):
    arrears_cli("setup", "load", write_setup()).assert_success()
    result = arrears_cli("setup", "show", "--format", "json").assert_success()
    assert json.loads(result.stdout)["letter_sequence"][0]["letter"][2]["fee"] == "15.00"


def test_a_document_on_a_step_whose_action_type_has_no_templates_is_refused(arrears_cli,
                                                                           write_setup):
    def stray(d):
        std(d)["step"][1]["document"] = "LETTER1"  # a letter step: its sequence decides

    refused(arrears_cli, write_setup(stray),
            'step 2 ("First notice"): document: action type "letter" takes no document (it '
            "has no templates); leave the key out")


def test_a_pre_dunning_letter_step_is_refused(arrears_cli, write_setup):
    def letter_before(d):
        std(d)["step"][0]["action"] = "letter"  # the pre-dunning step
        std(d)["step"][0].pop("document", None)

    refused(arrears_cli, write_setup(letter_before),
            "pre_dunning: a letter step cannot be pre-dunning")


def test_a_letter_sequence_may_name_the_currency_of_its_fees(arrears_cli, write_setup):
    def in_usd(d):
        d["letter_sequence"][0]["currency"] = "usd"

    arrears_cli("setup", "load", write_setup(in_usd)).assert_success()
    assert shown(arrears_cli)["letter_sequence"][0]["currency"] == "USD"

    def unknown(d):
        d["letter_sequence"][0]["currency"] = "DOLLAR"

    refused(arrears_cli, write_setup(unknown),
            'letter_sequence "STD": currency: "DOLLAR" is not an ISO 4217 currency code')


def test_addresses_in_the_setup_are_email_addresses(arrears_cli, write_setup):
    def bad(d):
        d["sales_group"][0]["email"] = "North <north@example.com>"
        d["email_template"][0]["sender_email"] = "ar@example.com\r\nBcc: x@example.com"

    refused(arrears_cli, write_setup(bad),
            'sales_group "NORTH": email: "North <north@example.com>" is not an email address',
            'email_template "REMIND": sender_email: "ar@example.com\\r\\nBcc: x@example.com" '
            "is not an email address")
