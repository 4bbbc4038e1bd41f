"""What the kernel offers a plugin author, checked through the arrears_book fixture
(the same helper third-party packages test with)."""

from __future__ import annotations

import pytest

from arrears.core import ActionType, Outcome, SetupOption, hookimpl

SETUP = {
    "parameters": {"accounting_currency": "USD"},
    "pool": [{"id": "ALL"}],
    "hierarchy": [{
        "id": "STD", "pool": "ALL", "rank": 1,
        "step": [{"description": "Ping", "action": "ping", "when": "after", "days": 1,
                  "channel": "pager"}],
    }],
}
CUSTOMERS = [{"account": f"C{n}", "name": f"Customer {n}", "currency": "USD"} for n in (1, 2)]
INVOICES = [{"number": f"INV-{n}", "customer": f"C{n}", "invoice_date": "2025-01-01",
             "due_date": "2025-01-15", "amount": "100.00", "currency": "USD"} for n in (1, 2)]


@hookimpl
def register_action_types(register):
    register(ActionType("ping", required_step_options=("channel",)))


@pytest.fixture
def book(arrears_book, arrears_plugin):
    def load(*hookimpls, name=None):
        arrears_plugin(register_action_types, *hookimpls, name=name)
        arrears_book.setup(SETUP)
        arrears_book.load(customers=CUSTOMERS, invoices=INVOICES, payments=[
            {"invoice": "INV-1", "date": "2025-01-10", "amount": "10.00"},
            {"invoice": "INV-1", "date": "2025-01-20", "amount": "20.00"}])
        return arrears_book
    return load


def test_a_required_step_option_is_demanded_and_handed_to_the_action(book, arrears_book):
    seen = []

    @hookimpl
    def execute_action(action, step, customer, context):
        seen.append((customer.account, step.options["channel"]))
        return Outcome(True, recipient="pager")

    book(execute_action)
    assert [a["recipient"] for a in arrears_book.run("2025-01-16")] == ["pager", "pager"]
    assert seen == [("C1", "pager"), ("C2", "pager")]
    without = {**SETUP, "hierarchy": [{**SETUP["hierarchy"][0], "step": [
        {k: v for k, v in SETUP["hierarchy"][0]["step"][0].items() if k != "channel"}]}]}
    result = arrears_book.setup(without, check=False).assert_exit(2)
    assert 'step 1 ("Ping"): channel: is required by action type "ping"' in result.stderr


def test_a_plugin_that_raises_fails_its_customer_and_the_run_goes_on(book, arrears_book):
    @hookimpl
    def execute_action(action, customer):
        if customer.account == "C1":
            raise KeyError("phone")
        return Outcome(True)

    book(execute_action, name="pager")
    result = arrears_book.cli("run", "--as-of", "2025-01-16", "--format", "json").assert_exit(1)
    outcome = result.json()
    assert [a["customer"] for a in outcome["actions"]] == ["C2"]
    assert outcome["errors"] == [{"customer": "C1", "step": "Ping", "invoice": "INV-1",
                                  "reason": "a plugin failed: pager: KeyError: 'phone'"}]
    [failed] = [e for e in arrears_book.history("--customer", "C1") if e["kind"] == "failed"]
    assert "KeyError" in failed["reason"]
    assert (failed["hierarchy"], failed["invoice"], failed["step"]) == ("STD", "INV-1", "Ping")
    with pytest.raises(KeyError):  # ARREARS_DEBUG: the plugin's author sees the traceback
        arrears_book.cli("run", "--as-of", "2025-01-17", env={"ARREARS_DEBUG": "1"})


def test_a_pool_plugin_that_raises_fails_the_customers_it_sorted_and_the_run_ends(
        book, arrears_book, arrears_db_url):
    from sqlalchemy import create_engine, text

    @hookimpl
    def select_customers(customers):
        raise RuntimeError("the CRM is down")

    @hookimpl
    def execute_action():
        return Outcome(True)

    book(execute_action, select_customers, name="crm")
    result = arrears_book.cli("run", "--as-of", "2025-01-16", "--format", "json").assert_exit(1)
    outcome = result.json()
    assert outcome["status"] == "errors" and outcome["actions"] == []
    assert outcome["errors"] == [
        {"customer": c, "step": None, "invoice": None, "reason": "a plugin failed: crm: "
         "RuntimeError: the CRM is down"} for c in ("C1", "C2")]
    with create_engine(arrears_db_url).connect() as connection:
        assert connection.execute(text("SELECT status FROM run")).all() == [("errors",)]


@pytest.mark.parametrize("answer, said", [
    ("a done thing", "execute_action returned str 'a done thing', where an Outcome or None is "
                     "expected"),
    (True, "execute_action returned bool True, where an Outcome or None is expected"),
])
def test_an_answer_of_the_wrong_type_fails_the_customer_naming_the_plugin(book, arrears_book,
                                                                         answer, said):
    @hookimpl
    def execute_action():
        return answer

    book(execute_action, name="pager")
    outcome = arrears_book.cli("run", "--as-of", "2025-01-16", "--format", "json"
                               ).assert_exit(1).json()
    assert outcome["errors"][0] == {"customer": "C1", "step": "Ping", "invoice": "INV-1",
                                    "reason": f"a plugin failed: pager: {said}"}
    [failed] = arrears_book.history("--customer", "C1")
    assert (failed["kind"], failed["invoice"], failed["step"]) == ("failed", "INV-1", "Ping")


@hookimpl(specname="exclude_customer")
def excluding_with_true():
    return True


@hookimpl(specname="exclude_invoices")
def excluding_with_a_list(invoices):
    return [i.number for i in invoices]


@pytest.mark.parametrize("hook, said", [
    (excluding_with_true, "exclude_customer returned bool True, where a reason (text) or None "
                          "is expected"),
    (excluding_with_a_list, "exclude_invoices returned list ['INV-1'], where a mapping of "
                            "invoice numbers to reasons is expected"),
])
def test_an_exclusion_answer_of_the_wrong_type_names_the_plugin(book, arrears_book, hook, said):
    book(hook, name="vip")
    errors = arrears_book.cli("run", "--as-of", "2025-01-16", "--format", "json"
                              ).assert_exit(1).json()["errors"]
    assert errors[0]["reason"] == f"a plugin failed: vip: {said}"


def test_a_step_not_possible_without_a_reason_says_so(book, arrears_book):
    @hookimpl
    def execute_action():
        return Outcome(False)

    book(execute_action)
    result = arrears_book.cli("run", "--as-of", "2025-01-16", "--format", "json").assert_success()
    assert {s["reason"] for s in result.json()["skipped"]} == {
        'the plugin carrying out action type "ping" gave no reason'}


def test_explain_shows_what_was_found_before_a_plugin_failed(book, arrears_book):
    @hookimpl
    def execute_action(customer):
        raise KeyError("phone")

    book(execute_action, name="pager")
    trail = arrears_book.cli("explain", "C1", "--as-of", "2025-01-16", "--format", "json"
                             ).assert_success().json()
    assert (trail["hierarchy"], trail["assignment"]) == ("STD", "pool:ALL")
    assert trail["error"] == "a plugin failed: pager: KeyError: 'phone'"
    assert [(i["number"], i["eligible"]) for i in trail["invoices"]] == [("INV-1", False)]
    assert [(s["step"], s["status"]) for s in trail["steps"]] == [("Ping", "not decided")]


def test_a_customer_a_plugin_gives_up_on_while_acting_is_failed_not_acted_on(book,
                                                                             arrears_book):
    refusals = ["the pager service refused C1"]

    @hookimpl
    def execute_action(action, customer, context):
        if customer.account == "C1" and refusals:
            context.fail(customer, refusals.pop())
        context.create_activity(customer, invoice=action.invoice, hierarchy=action.hierarchy,
                                step=action.step, template=None, type="call", purpose="",
                                details="paged", agent=None, due_date=action.date)
        return Outcome(True, recipient="pager")

    book(execute_action, name="pager")
    result = arrears_book.cli("run", "--as-of", "2025-01-16", "--format", "json").assert_exit(1)
    outcome = result.json()
    assert [a["customer"] for a in outcome["actions"]] == ["C2"]
    assert outcome["errors"] == [{"customer": "C1", "step": "Ping", "invoice": "INV-1",
                                  "reason": "the pager service refused C1"}]
    assert [(e["kind"], e["hierarchy"], e["invoice"], e["step"], e["reason"])
            for e in arrears_book.history("--customer", "C1")] == [
        ("failed", "STD", "INV-1", "Ping", "the pager service refused C1")]
    activities = arrears_book.cli("activities", "--format", "json").assert_success().json()
    assert [a["customer"] for a in activities["activities"]] == ["C2"]
    # Not done, so done again once the pager takes it: C1's step runs on the rerun.
    assert [a["customer"] for a in arrears_book.run("2025-01-16")] == ["C1"]


def test_a_message_key_is_queued_once_however_often_a_plugin_queues_it(book, arrears_book):
    @hookimpl
    def execute_action(action, customer, invoice, context):
        key = f"page:{invoice.number}"
        queued = [context.queue_message(customer, channel="pager", dedupe_key=key,
                                        recipient="pager", body_text="pay", invoice=invoice.number)
                  for _ in range(2)]
        assert queued == [True, False]
        return Outcome(True)

    book(execute_action)
    arrears_book.run("2025-01-16")
    assert sorted(m["customer"] for m in arrears_book.outbox()) == ["C1", "C2"]


def test_payments_are_read_up_to_the_run_date_only(book, arrears_book):
    seen = {}

    @hookimpl
    def exclude_customer(customer, context):
        seen[(customer.account, context.as_of.isoformat())] = [
            (p.invoice, str(p.amount), p.date.isoformat()) for p in context.payments(customer)]

    book(exclude_customer)
    arrears_book.simulate("2025-01-16")
    arrears_book.simulate("2025-01-21")
    assert seen[("C1", "2025-01-16")] == [("INV-1", "10.00", "2025-01-10")]
    assert seen[("C1", "2025-01-21")] == [("INV-1", "10.00", "2025-01-10"),
                                          ("INV-1", "20.00", "2025-01-20")]
    assert seen[("C2", "2025-01-21")] == []


def test_invoices_a_plugin_leaves_out_are_not_acted_on_and_say_why(arrears_book, arrears_plugin):
    asked = []

    @hookimpl
    def exclude_invoices(invoices, customer, context):
        asked.append((customer.account, [i.number for i in invoices]))
        return {i.number: "under review" for i in invoices if i.number in ("INV-1", "INV-3")}

    @hookimpl
    def execute_action():
        return Outcome(True, recipient="pager")

    arrears_plugin(register_action_types, execute_action, exclude_invoices, name="review")
    arrears_plugin(_credit_notes(), name="notes")
    arrears_book.setup(SETUP)
    arrears_book.load(customers=CUSTOMERS, invoices=[
        *INVOICES,
        {"number": "INV-3", "customer": "C1", "invoice_date": "2025-01-02",
         "due_date": "2025-01-16", "amount": "50.00", "currency": "USD"},
        {"number": "INV-4", "customer": "C1", "invoice_date": "2025-01-03",
         "due_date": "2025-01-14", "amount": "70.00", "currency": "USD", "status": "disputed"}])
    actions = arrears_book.run("2025-01-20")
    # C1's oldest invoice INV-4 is disputed; INV-1 and INV-3 are left out: nothing leads.
    assert [(a["customer"], a["invoice"]) for a in actions] == [("C2", "INV-2")]
    assert sorted(asked) == [("C1", ["INV-1", "INV-3"]), ("C2", ["INV-2"])]  # not disputed
    reasons = {e["invoice"]: e["reason"] for e in arrears_book.history("--customer", "C1")
               if e["kind"] == "excluded"}
    assert reasons["INV-3"] == "under review"
    assert set(reasons["INV-1"].split("; ")) == {"under review", "credit note pending"}


def _credit_notes():
    @hookimpl
    def exclude_invoices(invoices):
        return {"INV-1": "credit note pending", "INV-2": ""}  # "" keeps INV-2

    return exclude_invoices


def test_an_exclusion_rule_may_name_a_file_next_to_the_setup_file(arrears_book,
                                                                 arrears_plugin):
    """A rule's value ending in .txt names a file beside the setup file, read when the
    setup is loaded: the stored setup holds its text, so runs do not need the file."""
    @hookimpl
    def register_exclusion_rules(register):
        register(SetupOption("accounts_on_hold", parse=_accounts, unparse="\n".join))

    @hookimpl
    def exclude_customer(customer, hierarchy):
        if customer.account in hierarchy.exclude.get("accounts_on_hold", ()):
            return "on hold"
        return None

    @hookimpl
    def execute_action():
        return Outcome(True, recipient="pager")

    arrears_plugin(register_action_types, register_exclusion_rules, exclude_customer,
                   execute_action, name="hold")
    setup = {**SETUP, "hierarchy": [{**SETUP["hierarchy"][0],
                                     "exclude": {"accounts_on_hold": "hold.txt"}}]}
    arrears_book.setup(setup, files={"hold.txt": "C1\n# C2 paid in full\n"})
    (arrears_book.folder / "hold.txt").unlink()
    arrears_book.load(customers=CUSTOMERS, invoices=INVOICES)
    assert [a["customer"] for a in arrears_book.run("2025-01-20")] == ["C2"]
    assert [e["reason"] for e in arrears_book.history("--customer", "C1")] == ["on hold"]
    missing = arrears_book.cli("setup", "load", arrears_book.folder / "setup.toml")
    missing.assert_exit(2)
    assert 'hierarchy "STD": exclude: accounts_on_hold: cannot read "' in missing.stderr


def _accounts(text):
    if not isinstance(text, str):
        raise ValueError("expected a text of account numbers, one a line")
    return sorted(line.strip() for line in text.splitlines()
                  if line.strip() and not line.startswith("#"))


def test_a_list_criterion_from_a_file_takes_a_value_a_line(book, arrears_book):
    """A built-in criterion is a plugin's like any other: ``accounts = "key.txt"`` names
    a file beside the setup file, one account a line (it used to be one account,
    "C1\\nC2\\n", that no customer has)."""
    @hookimpl
    def execute_action():
        return Outcome(True, recipient="pager")

    book(execute_action)
    setup = {**SETUP, "pool": [{"id": "ALL", "accounts": "key.txt"}]}
    arrears_book.setup(setup, files={"key.txt": "C1\r\n\n  C2\n"})
    assert arrears_book.cli("setup", "show", "--format", "json").assert_success().json()[
        "pool"] == [{"id": "ALL", "description": "", "accounts": ["C1", "C2"]}]
    assert [a["customer"] for a in arrears_book.run("2025-01-16")] == ["C1", "C2"]
    arrears_book.setup({**SETUP, "pool": [{"id": "ALL", "accounts": "none.txt"}]},
                       files={"none.txt": "\n \n"}, check=False).assert_exit(2)


def test_a_toml_date_in_a_step_option_is_refused_not_an_internal_error(book, arrears_book):
    from datetime import date

    book()
    step = {**SETUP["hierarchy"][0]["step"][0], "channel": [date(2025, 1, 31)]}
    result = arrears_book.setup({**SETUP, "hierarchy": [{**SETUP["hierarchy"][0],
                                                         "step": [step]}]}, check=False)
    assert 'step 1 ("Ping"): channel: a TOML date or time cannot be kept as a step option' \
        in result.assert_exit(2).stderr


def test_storing_into_a_table_the_database_lacks_is_a_database_error(book, arrears_book):
    """Both backends say so alike: on PostgreSQL the rows go by COPY, whose driver errors
    SQLAlchemy does not see, and it was an internal error there."""
    from sqlalchemy import Column, Integer, MetaData, Table

    visits = Table("visits", MetaData(), Column("customer_id", Integer))

    @hookimpl
    def execute_action(customer, context):
        context.store(visits, customer_id=customer.id)
        return Outcome(True)

    book(execute_action)
    result = arrears_book.cli("run", "--as-of", "2025-01-16").assert_exit(1)
    assert result.stderr.startswith("Error: database error on ")
    assert "visits" in result.stderr and "internal error" not in result.stderr
