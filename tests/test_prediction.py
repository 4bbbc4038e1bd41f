"""Payment prediction (SEMANTICS.md §5): the logistic regression, `arrears predict
train`, `arrears predict`, and the daily run's prediction activities, through the CLI."""

from __future__ import annotations

import csv
import json
import math
import statistics
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from sqlalchemy import create_engine, text

from arrears.core import book, hookimpl
from arrears.core.domain import Prediction
from arrears.plugins import logistic, prediction

AS_OF = date(2025, 6, 2)
DUE = date(2025, 6, 19)  # the open invoices: not yet due on AS_OF


# --- the logistic regression -----------------------------------------------------------------


def reference_data() -> tuple[list[list[float]], list[int]]:
    """60 fixed rows (intercept and 3 features), not separable."""
    rows, labels = [], []
    for i in range(60):
        x1 = ((i * 37) % 17) / 4 - 2
        x2 = ((i * 11) % 13) / 3 - 2
        x3 = float(i % 2)
        noise = ((i * 7) % 5 - 2) * 0.9
        rows.append([1.0, x1, x2, x3])
        labels.append(1 if x1 + 0.5 * x2 - x3 + noise > 0 else 0)
    return rows, labels


# Computed independently on the same data: scikit-learn 1.9.1 LogisticRegression
# (tol=1e-12; C=inf, then C=1) and scipy.optimize.minimize (BFGS) agree to 1e-8.
KNOWN = {
    0.0: [-0.8261463051923776, 1.3252953648702568, 0.8328198220774247, -0.16080006856758206],
    1.0: [-0.7648275559628345, 1.1414010484022432, 0.7012427376139446, -0.09974319106147164],
}


@pytest.mark.parametrize("l2", sorted(KNOWN))
def test_logistic_regression_finds_the_known_coefficients(l2):
    rows, labels = reference_data()
    assert logistic.fit(rows, labels, l2=l2) == pytest.approx(KNOWN[l2], abs=1e-6)


def test_logistic_regression_survives_separable_data_and_refuses_nothing():
    rows = [[1.0, float(x)] for x in range(-5, 6)]
    labels = [int(x > 0) for x in range(-5, 6)]
    weights = logistic.fit(rows, labels, l2=1.0)
    assert weights[1] > 0
    assert logistic.probability(weights, [1.0, 4.0]) > 0.9 > 0.1 > \
        logistic.probability(weights, [1.0, -4.0])
    with pytest.raises(ValueError, match="no rows"):
        logistic.fit([], [])


def test_roc_auc_precision_and_recall():
    assert logistic.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert logistic.roc_auc([0.5, 0.5, 0.5], [0, 1, 1]) == 0.5  # ties count half
    assert logistic.roc_auc([0.2, 0.3], [1, 1]) is None
    assert logistic.precision_recall([True, True, False, False], [1, 0, 1, 0]) == (0.5, 0.5)
    assert logistic.precision_recall([False, False], [1, 0]) == (None, 0.0)


# --- what the model reads ---------------------------------------------------------------------


def record(number: str, issued: date, due_days: int, amount: float, paid_after_due: int | None,
           currency: str = "USD") -> prediction.Record:
    due = issued + timedelta(days=due_days)
    paid = None if paid_after_due is None else due + timedelta(days=paid_after_due)
    return prediction.Record(number, issued, due, amount, currency, paid)


def test_features_use_only_what_was_known_on_the_date():
    history = [
        record("A", date(2025, 1, 1), 30, 100_00, 10),   # paid 2025-02-10, 10 days late
        record("B", date(2025, 2, 1), 30, 300_00, -5),   # paid 2025-02-26, early
        record("C", date(2025, 3, 1), 30, 200_00, None),  # open, due 2025-03-31
        record("D", date(2025, 5, 1), 30, 999_00, 0),     # issued after the date: unseen
        record("E", date(2025, 1, 15), 30, 50_00, 0, "EUR"),  # paid on 2025-02-14, on time
    ]
    target = record("T", date(2025, 4, 10), 30, 400_00, None)
    row = prediction.features(target, [*history, target], date(2025, 4, 10), ("EUR",))
    named = dict(zip([*prediction.FEATURES, "currency_EUR"], row, strict=True))
    assert named == pytest.approx({
        "intercept": 1.0, "no_history": 0.0, "paid_invoices": math.log1p(3),
        "mean_days_late": (10 - 5 + 0) / 3 / 30, "share_late": 1 / 3,
        "recent_share_late": 1 / 3, "last_late": 0.0,  # the last paid (B, Feb 26) was early
        "spread_days_late": statistics.pstdev([10, -5, 0]) / 30,
        "overdue_unpaid": math.log1p(1),  # C
        "relative_amount": math.log(400 / 200),  # USD: A, B, C average 200
        "terms": 1.0, "tenure": math.log1p(99 / 365), "currency_EUR": 0.0})


# --- a book whose customers pay as they always do ---------------------------------------------

SETUP = {
    "parameters": {"accounting_currency": "USD", "timezone": "UTC",
                   "prediction_activity": "PREDICT", "prediction_min_paid_invoices": 50,
                   "prediction_very_late_days": 30},
    "pool": [{"id": "ALL"}, {"id": "QUIET", "accounts": ["Q1"]}],
    "hierarchy": [
        {"id": "STD", "pool": "ALL", "rank": 2, "use_prediction": True,
         "step": [{"description": "Call", "action": "activity", "document": "CALL",
                   "when": "after", "days": 15}]},
        {"id": "NOPRED", "pool": "QUIET", "rank": 1,
         "step": [{"description": "Call", "action": "activity", "document": "CALL",
                   "when": "after", "days": 15}]},
    ],
    "activity_template": [
        {"id": "CALL", "type": "call", "purpose": "Collect", "details": "Call"},
        {"id": "PREDICT", "type": "task", "purpose": "Head off a late payment",
         "days_to_complete": 5,
         "details": "{{ invoice.number }} of {{ customer.name }} is predicted to be late"},
    ],
}

# P*: pay 2 days early; L*: 10 days late; V*: 40 days late; Q1 pays late but its
# hierarchy does not use prediction.
BEHAVIOUR = {**{f"P{i}": -2 for i in range(1, 9)}, **{f"L{i}": 10 for i in range(1, 5)},
             **{f"V{i}": 40 for i in range(1, 5)}, "Q1": 40}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def load_book(cli: Any, folder: Path, first: date = date(2024, 9, 1),
              setup: dict | None = None) -> None:
    """Every customer gets an invoice every 25 days from *first* until mid-May 2025, due
    30 days later, paid as the customer always pays if that is before AS_OF; then one
    invoice issued on 2025-05-20, due on DUE."""
    customers = [{"account": a, "name": f"Customer {a}", "currency": "USD",
                  "collections_agent": "ANNA" if a.startswith("L") else ""} for a in BEHAVIOUR]
    invoices, payments = [], []
    for account, late in BEHAVIOUR.items():
        issued, k = first, 0
        while issued < date(2025, 5, 15):
            due = issued + timedelta(days=30)
            number = f"{account}-{k}"
            invoices.append({"number": number, "customer": account,
                             "invoice_date": issued.isoformat(), "due_date": due.isoformat(),
                             "amount": "100.00", "currency": "USD"})
            if (paid := due + timedelta(days=late)) < AS_OF:
                payments.append({"invoice": number, "date": paid.isoformat(),
                                 "amount": "100.00", "reference": f"BANK-{number}"})
            issued, k = issued + timedelta(days=25), k + 1
        invoices.append({"number": f"{account}-OPEN", "customer": account,
                         "invoice_date": "2025-05-20", "due_date": DUE.isoformat(),
                         "amount": "100.00", "currency": "USD"})
    (folder / "setup.toml").write_text(tomli_w.dumps(setup or SETUP))
    cli("setup", "load", folder / "setup.toml").assert_success()
    cli("import", "customers", write_csv(folder / "customers.csv", customers)).assert_success()
    cli("import", "invoices", write_csv(folder / "invoices.csv", invoices)).assert_success()
    cli("import", "payments", write_csv(folder / "payments.csv", payments)).assert_success()


@pytest.fixture
def predicting(arrears_cli, tmp_path):
    load_book(arrears_cli, tmp_path)
    return arrears_cli


@pytest.fixture
def trained(predicting):
    predicting("predict", "train", "--as-of", AS_OF.isoformat()).assert_success()
    return predicting


def query(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = [tuple(r) for r in connection.execute(text(sql))]
    engine.dispose()
    return found


def run(cli: Any, day: date | str, code: int = 0) -> dict[str, Any]:
    return cli("run", "--as-of", str(day), "--format", "json").assert_exit(code).json()


# --- arrears predict train ---------------------------------------------------------------------


def test_train_stores_the_model_with_its_date_sample_size_and_quality(predicting,
                                                                      arrears_db_url):
    result = predicting("predict", "train", "--as-of", "2025-06-02", "--format", "json")
    trained = result.assert_success().json()
    # 165 paid invoices, and the 5 of V* and Q1 unpaid past their due date
    assert (trained["id"], trained["trained"], trained["samples"], trained["paid"]) == \
        (1, "2025-06-02", 170, 165)
    quality = trained["quality"]
    assert (quality["late"], quality["very_late"], quality["open_late"]) == (90, 45, 5)
    assert quality["tested"] == 34 and quality["roc_auc"] == 1.0
    assert quality["precision"] == quality["recall"] == 1.0
    late = trained["coefficients"]["late"]
    assert late["share_late"] > 0 and late["mean_days_late"] > 0
    assert "very_late" in trained["coefficients"]
    [row] = query(arrears_db_url, "SELECT kind, as_of, samples, quality, model "
                                  "FROM payment_model")
    assert (row[0], str(row[1]), row[2]) == ("logistic", "2025-06-02", 170)
    assert json.loads(row[3])["roc_auc"] == 1.0
    assert json.loads(row[4])["features"][:3] == ["intercept", "no_history", "paid_invoices"]
    text_ = predicting("predict", "train", "--as-of", "2025-06-02").assert_success().stdout
    assert "payment model 2 of 2025-06-02: learned from 170 invoices (165 paid" in text_
    assert "ROC AUC 1.000" in text_


def test_training_is_reproducible(predicting):
    first = predicting("predict", "train", "--as-of", "2025-06-02", "--format", "json").json()
    again = predicting("predict", "train", "--as-of", "2025-06-02", "--format", "json").json()
    assert first["id"] != again["id"]
    assert first["coefficients"] == again["coefficients"]
    assert first["quality"] == again["quality"]


def test_training_learns_only_from_what_was_known_before_its_date(predicting):
    early = predicting("predict", "train", "--as-of", "2025-02-15", "--format", "json")
    # Paid before 2025-02-15: invoices 0-5 of P* and L*, 0-3 of V* and Q1
    assert early.assert_success().json()["paid"] == 8 * 6 + 4 * 6 + 5 * 4


def test_too_little_history_says_so_and_predicts_nothing(arrears_cli, tmp_path,
                                                         arrears_db_url):
    load_book(arrears_cli, tmp_path, first=date(2025, 3, 1))  # 41 paid invoices < 50
    result = arrears_cli("predict", "train", "--as-of", "2025-06-02").assert_exit(1)
    assert ("too little payment history to learn from: 41 paid invoices before 2025-06-02, "
            "at least 50 needed (parameters.prediction_min_paid_invoices)") in result.stderr
    assert query(arrears_db_url, "SELECT count(*) FROM payment_model") == [(0,)]
    listed = arrears_cli("predict", "--as-of", "2025-06-02", "--format", "json")
    assert "no payment model yet: `arrears predict train`" in listed.assert_success().stderr
    assert {p["prediction"] for p in listed.json()["invoices"]} == {None}
    assert [a for a in run(arrears_cli, AS_OF)["actions"] if a["step"] == "prediction"] == []


def test_a_run_under_use_prediction_without_a_model_says_so(predicting):
    """use_prediction looked on, and did nothing, until someone trained a model."""
    warning = ("warning: use_prediction (hierarchy STD) creates no prediction activity: no "
               "payment model yet: `arrears predict train` learns one from the paid invoices")
    for args in (["simulate", "--as-of", AS_OF.isoformat(), "--format", "json"],
                 ["explain", "P1", "--as-of", AS_OF.isoformat()],
                 ["run", "--as-of", AS_OF.isoformat(), "--format", "json"]):
        result = predicting(*args).assert_success()
        assert warning in result.stderr.splitlines()
    predicting("predict", "train", "--as-of", AS_OF.isoformat()).assert_success()
    assert "use_prediction" not in predicting("simulate", "--as-of", AS_OF.isoformat()).stderr


def test_a_model_below_a_raised_minimum_predicts_nothing(trained, tmp_path):
    raised = {**SETUP, "parameters": {**SETUP["parameters"],
                                      "prediction_min_paid_invoices": 500}}
    (tmp_path / "raised.toml").write_text(tomli_w.dumps(raised))
    trained("setup", "load", tmp_path / "raised.toml").assert_success()
    listed = trained("predict", "--as-of", "2025-06-02", "--format", "json").assert_success()
    assert "fewer than parameters.prediction_min_paid_invoices (500)" in listed.stderr
    assert {p["prediction"] for p in listed.json()["invoices"]} == {None}


def test_a_model_that_ranks_no_better_than_a_guess_predicts_nothing(trained, arrears_db_url):
    model = trained("predict", "--as-of", "2025-06-02", "--format", "json").assert_success()
    assert {p["prediction"] for p in model.json()["invoices"]} != {None}  # measured 1.0
    engine = create_engine(arrears_db_url)
    with engine.begin() as connection:  # as if it had learned from a book of coin tosses
        quality = json.loads(connection.execute(text("SELECT quality FROM payment_model"))
                             .scalar_one())
        connection.execute(text("UPDATE payment_model SET quality = :q"),
                           {"q": json.dumps({**quality, "roc_auc": 0.55})})
    engine.dispose()
    listed = trained("predict", "--as-of", "2025-06-02", "--format", "json").assert_success()
    assert ("ranks held-out invoices with a ROC AUC of 0.55, below "
            "parameters.prediction_min_roc_auc (0.6)") in listed.stderr
    assert {p["prediction"] for p in listed.json()["invoices"]} == {None}
    assert [a for a in run(trained, AS_OF)["actions"] if a["step"] == "prediction"] == []


def test_the_least_roc_auc_is_a_number_from_a_coin_toss_to_one(arrears_cli, tmp_path):
    bad = {**SETUP, "parameters": {**SETUP["parameters"], "prediction_min_roc_auc": "0.4"}}
    (tmp_path / "bad.toml").write_text(tomli_w.dumps(bad))
    result = arrears_cli("setup", "check", tmp_path / "bad.toml").assert_exit(2)
    assert ('parameters: prediction_min_roc_auc: expected a ROC AUC from 0.5 (chance) to 1, '
            'got "0.4"') in result.stderr


# --- arrears predict ---------------------------------------------------------------------------


def test_predict_lists_open_invoices_with_their_prediction(trained):
    result = trained("predict", "--as-of", "2025-06-02", "--format", "json").assert_success()
    listed = {p["invoice"]: p for p in result.json()["invoices"]}
    assert len(listed) == 8 * 2 + 4 * 2 + 5 * 3  # P*, L*: -10, -OPEN; V*, Q1: also -9
    assert listed["P1-OPEN"]["prediction"] == "on_time"
    assert listed["L1-OPEN"]["prediction"] == "late"
    assert listed["V2-OPEN"]["prediction"] == "very_late"
    assert listed["V2-OPEN"]["probability"] > 0.5
    assert listed["L1-OPEN"]["model"] == "payment model 1 of 2025-06-02"
    assert listed["L1-OPEN"]["open_amount"] == "100.00"
    assert result.json()["model"]["id"] == 1
    only = trained("predict", "--customer", "V1", "--as-of", "2025-06-02", "--format", "json")
    assert [p["invoice"] for p in only.json()["invoices"]] == ["V1-9", "V1-10", "V1-OPEN"]
    text_ = trained("predict", "--customer", "L1", "--as-of", "2025-06-02").stdout
    assert "L1-OPEN" in text_ and "late" in text_
    missing = trained("predict", "--customer", "NOBODY").assert_exit(2)
    assert '--customer: no customer "NOBODY"' in missing.stderr


# --- the daily run -----------------------------------------------------------------------------


def predicted(actions: list[dict[str, Any]]) -> list[str]:
    return sorted(a["invoice"] for a in actions if a["step"] == "prediction")


# Invoices not yet due of customers that pay late; V*-9 is overdue already.
LATE_OPEN = sorted(f"{a}-{n}" for a in BEHAVIOUR if a[0] in "LV" for n in ("10", "OPEN"))


def test_the_run_creates_one_activity_per_invoice_predicted_late(trained, arrears_db_url):
    first = run(trained, AS_OF)
    assert predicted(first["actions"]) == LATE_OPEN  # not P*, not Q1, not V*-9
    action = next(a for a in first["actions"] if a["invoice"] == "L1-OPEN")
    assert action == {"customer": "L1", "hierarchy": "STD", "step": "prediction",
                      "action": "activity", "invoice": "L1-OPEN", "date": "2025-06-02",
                      "document": "PREDICT", "recipient": "ANNA"}
    activities = trained("activities", "--format", "json").json()["activities"]
    mine = {a["invoice"]: a for a in activities if a["step"] == "prediction"}
    assert sorted(mine) == LATE_OPEN
    assert mine["L1-OPEN"]["type"] == "task"
    assert mine["L1-OPEN"]["due_date"] == "2025-06-07"
    assert mine["L1-OPEN"]["details"] == "L1-OPEN of Customer L1 is predicted to be late"
    history = trained("history", "--customer", "V2", "--format", "json").json()["entries"]
    [entry] = [e for e in history if e["invoice"] == "V2-OPEN"]
    assert entry["kind"] == "action" and entry["step"] == "prediction"
    assert entry["reason"].startswith("activity PREDICT: predicted very late with probability 0.")
    assert entry["reason"].endswith("(payment model 1 of 2025-06-02)")
    stored = query(arrears_db_url, "SELECT outcome, hierarchy, date FROM prediction_action "
                                   "ORDER BY id")
    assert len(stored) == len(LATE_OPEN)
    assert (stored[0][1], str(stored[0][2])) == ("STD", "2025-06-02")
    # The next days: the same invoices are never acted on again.
    assert predicted(run(trained, "2025-06-03")["actions"]) == []
    assert predicted(run(trained, "2025-06-10")["actions"]) == []
    assert query(arrears_db_url, "SELECT count(*) FROM activity WHERE step = 'prediction'") \
        == [(len(LATE_OPEN),)]
    # A prediction activity is not a step run (not a contact for quiet days).
    assert query(arrears_db_url, "SELECT DISTINCT step FROM step_run") == [("Call",)]


def test_simulation_shows_prediction_activities_and_writes_nothing(trained, snapshot):
    before = snapshot()
    result = trained("simulate", "--as-of", "2025-06-02", "--format", "json").assert_success()
    assert predicted(result.json()["actions"]) == LATE_OPEN
    explained = trained("explain", "V3", "--as-of", "2025-06-02", "--format", "json")
    assert predicted(explained.assert_success().json()["actions"]) == ["V3-10", "V3-OPEN"]
    assert explained.json()["details"]["prediction V3-OPEN"].startswith("predicted very late")
    assert snapshot() == before


def test_disputed_and_excluded_invoices_get_no_prediction(trained):
    trained("invoice", "status", "L1-OPEN", "disputed").assert_success()
    assert "L1-OPEN" not in predicted(run(trained, AS_OF)["actions"])


def test_a_run_that_crashed_mid_batch_finishes_without_repeating(trained, arrears_plugin,
                                                                 arrears_db_url, monkeypatch):
    monkeypatch.setattr(book, "BATCH", 3)

    class PowerCut(BaseException):
        pass

    @hookimpl(tryfirst=True)
    def act_on_prediction(invoice):
        if invoice.number == "V3-OPEN":
            raise PowerCut("the machine stopped")

    plugin = arrears_plugin(act_on_prediction, name="crash")
    with pytest.raises(PowerCut):
        trained("run", "--as-of", "2025-06-02", "--workers", "1")
    done_before = query(arrears_db_url, "SELECT count(*) FROM prediction_action")[0][0]
    assert 0 < done_before < len(LATE_OPEN)
    trained.pm.unregister(plugin)
    again = run(trained, AS_OF)
    assert len(predicted(again["actions"])) == len(LATE_OPEN) - done_before
    assert query(arrears_db_url, "SELECT count(*), count(DISTINCT invoice_id) FROM activity "
                                 "WHERE step = 'prediction'") == [(len(LATE_OPEN),) * 2]
    assert query(arrears_db_url, "SELECT count(*) FROM prediction_action") == \
        [(len(LATE_OPEN),)]


def test_an_activity_that_cannot_be_made_is_not_possible_and_tried_again(trained, tmp_path,
                                                                        arrears_db_url):
    broken = json.loads(json.dumps(SETUP))
    broken["activity_template"][1]["details"] = "{{ invoice.amount // 0 }}"
    (tmp_path / "broken.toml").write_text(tomli_w.dumps(broken))
    trained("setup", "load", tmp_path / "broken.toml").assert_success()
    first = run(trained, AS_OF)
    assert predicted(first["actions"]) == []
    assert sorted(n["step"] for n in first["skipped"]) == ["prediction"] * len(LATE_OPEN)
    assert 'activity_template "PREDICT": details: template error' in first["skipped"][0]["reason"]
    assert query(arrears_db_url, "SELECT count(*) FROM prediction_action") == [(0,)]
    (tmp_path / "fixed.toml").write_text(tomli_w.dumps(SETUP))
    trained("setup", "load", tmp_path / "fixed.toml").assert_success()
    assert predicted(run(trained, "2025-06-03")["actions"]) == LATE_OPEN


# --- the hooks are replaceable ------------------------------------------------------------------


def test_hook_predict_payment(predicting, arrears_plugin):
    """A third party's predictor answers before the built-in one (no model trained)."""
    @hookimpl
    def predict_payment(invoice, customer, context):
        if invoice.number == "P1-OPEN":
            return Prediction("very_late", 0.97, "crystal ball")
        return None

    arrears_plugin(predict_payment, name="crystal")
    result = run(predicting, AS_OF)
    assert predicted(result["actions"]) == ["P1-OPEN"]
    [entry] = [e for e in predicting("history", "--customer", "P1", "--format", "json")
               .json()["entries"] if e["step"] == "prediction"]
    assert entry["reason"] == ("activity PREDICT: predicted very late with probability 0.97 "
                               "(crystal ball)")
    listed = predicting("predict", "--customer", "P1", "--as-of", "2025-06-02",
                        "--format", "json").json()["invoices"]
    assert [(p["invoice"], p["prediction"], p["model"]) for p in listed] == [
        ("P1-10", None, None), ("P1-OPEN", "very_late", "crystal ball")]


def test_hook_predict_payment_wins_over_a_trained_model(trained, arrears_plugin):
    @hookimpl
    def predict_payment(invoice):
        return Prediction("on_time", 0.99, "optimist")

    arrears_plugin(predict_payment, name="optimist")
    assert predicted(run(trained, AS_OF)["actions"]) == []


def test_hook_act_on_prediction(trained, arrears_plugin, arrears_db_url):
    """A third party decides what a late prediction does; the built-in one then does not."""
    from arrears.core.domain import Action, Outcome

    @hookimpl
    def act_on_prediction(prediction, invoice, customer, hierarchy, context):
        if not prediction.late:
            return None
        return (Action(customer.account, hierarchy.id, "prediction", "sms", invoice.number,
                       context.as_of, None, "+46 70 000 00 00"),
                Outcome(True, f"sms sent: {prediction.outcome}"))

    arrears_plugin(act_on_prediction, name="texter")
    actions = run(trained, AS_OF)["actions"]
    assert {a["action"] for a in actions if a["step"] == "prediction"} == {"sms"}
    assert query(arrears_db_url, "SELECT count(*) FROM activity WHERE step = 'prediction'") \
        == [(0,)]


# --- the setup -----------------------------------------------------------------------------------


def test_use_prediction_needs_a_prediction_activity(arrears_cli, tmp_path):
    bad = json.loads(json.dumps(SETUP))
    del bad["parameters"]["prediction_activity"]
    bad["parameters"]["prediction_min_paid_invoices"] = 0
    (tmp_path / "bad.toml").write_text(tomli_w.dumps(bad))
    result = arrears_cli("setup", "check", tmp_path / "bad.toml").assert_exit(2)
    assert ('hierarchy "STD": use_prediction: needs parameters.prediction_activity'
            in result.stderr)
    assert "parameters: prediction_min_paid_invoices: expected 1 or more, got 0" in result.stderr


def test_prediction_parameters_round_trip(predicting):
    shown = predicting("setup", "show", "--format", "json").assert_success().json()
    assert shown["parameters"]["prediction_min_paid_invoices"] == 50
    assert shown["parameters"]["prediction_very_late_days"] == 30
