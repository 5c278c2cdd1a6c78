"""Applying: dry runs post nothing, batches, a refused record inside a batch, cancel, errors that stop."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from halointegrator.engine.applying import CHANGE, apply as apply_plan
from halointegrator.engine.planning import Policy
from tests.core_helpers import plan_records as plan
from tests.fake_halo import FakeHalo
from halointegrator.errors import AuthError, Cancelled, HaloError, RetriableError
from halointegrator.engine.model import CREATE, DEACTIVATE, LINK, UPDATE, EntityKind, Plan, Wanted

USER = EntityKind("user", "Users", "users", "azureoid")
ASSET = EntityKind("asset", "Asset", "assets", "intune_id", label_field="inventory_number")
LOG_NAME = "test.engine.apply"
# The IntegrationError schema's properties in Halo's OpenAPI document (components.schemas.IntegrationError).
INTEGRATION_ERROR_FIELDS = {
    "id", "module_id", "detail_id", "entity_type", "entity_id", "entity_name", "endpoint", "error", "date", "_warning",
}
OPENAPI_SUBSET = Path(__file__).resolve().parent.parent / "sandbox" / "openapi_subset.json"


def owns(record: dict) -> bool:
    return record.get("azure_connectionid") == 1


def person(n: int) -> Wanted:
    return Wanted(f"oid-{n}", f"Person {n}", {"azureoid": f"oid-{n}", "name": f"Person {n}", "azure_connectionid": 1})


def halo_person(n: int, **fields) -> dict:
    return {"id": n, "azureoid": f"oid-{n}", "name": f"Person {n}", "azure_connectionid": 1, **fields}


def apply(the_plan, halo, **options):
    """The apply's report (the landed changes are the status's business, tested with the pipeline)."""
    return apply_plan(the_plan, halo, **options).report


def user_plan(halo: FakeHalo, wanted: list[Wanted], **options) -> Plan:
    return plan(USER, wanted, halo.list("Users", "users"), owns=owns, **options)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    caplog.set_level(logging.DEBUG, logger=LOG_NAME)
    return logging.getLogger(LOG_NAME)


def change_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == CHANGE]


def mixed_halo() -> FakeHalo:
    """Halo with one record to update, one to deactivate and one to link; the plan also creates one."""
    return FakeHalo({"Users": [
        halo_person(1, title="Old"),
        halo_person(2),
        {"id": 3, "name": "Person 3", "emailaddress": "p3@x"},
    ]}, list_shape="whole")


def mixed_wanted() -> list[Wanted]:
    updated = Wanted("oid-1", "Person 1", {**person(1).fields, "title": "New"})
    linked = Wanted("oid-3", "Person 3", {**person(3).fields, "emailaddress": "p3@x"})
    return [updated, linked, person(4)]


def test_change_level_is_between_info_and_warning() -> None:
    assert logging.INFO < CHANGE == 25 < logging.WARNING


def test_dry_run_posts_nothing_and_says_would(log, caplog) -> None:
    halo = mixed_halo()
    before = halo.records("Users")
    the_plan = user_plan(halo, mixed_wanted(), match_fields=["emailaddress"])

    report = apply(the_plan, halo, dry_run=True, log=log, integration="azure_ad", connection="Contoso")

    assert halo.posts == []
    assert halo.records("Users") == before
    assert change_lines(caplog) == [
        "Would create user Person 4",
        "Would link existing user Person 3 (matched on emailaddress): azure_connectionid -> 1",
        "Would update user Person 1: title 'Old' -> 'New'",
        "Would deactivate user Person 2 (no longer in the source)",
    ]
    assert report.dry_run and (report.integration, report.connection) == ("azure_ad", "Contoso")
    assert report.counts == {CREATE: 1, LINK: 1, UPDATE: 1, DEACTIVATE: 1}
    assert report.summary() == "would create 1 user(s), would update 1 user(s), would link 1 user(s), would deactivate 1 user(s)"


def test_dry_run_is_the_default(log) -> None:
    halo = mixed_halo()

    apply(user_plan(halo, mixed_wanted()), halo, log=log)

    assert halo.posts == []


def test_real_run_posts_and_logs_each_change(log, caplog) -> None:
    halo = mixed_halo()
    the_plan = user_plan(halo, mixed_wanted(), match_fields=["emailaddress"])

    report = apply(the_plan, halo, dry_run=False, log=log)

    assert change_lines(caplog) == [change.description for change in the_plan.changes]
    assert [(call.path, len(call.payloads), call.idempotent) for call in halo.posts] == [
        ("Users", 1, False),  # the create, alone: a create must not be repeated blindly
        ("Users", 3, True),  # link, update, deactivate: safe to retry
    ]
    assert report.counts == {CREATE: 1, LINK: 1, UPDATE: 1, DEACTIVATE: 1}
    assert report.ok and not report.dry_run
    assert halo.record("Users", 1)["title"] == "New"
    assert halo.record("Users", 2)["inactive"] is True
    assert halo.record("Users", 3)["azureoid"] == "oid-3"
    assert [record["name"] for record in halo.records("Users")][-1] == "Person 4"


def test_batches_of_n(log) -> None:
    halo = FakeHalo({"Users": [halo_person(n, title="Old") for n in range(1, 6)]}, list_shape="whole")
    wanted = [Wanted(f"oid-{n}", f"Person {n}", {**person(n).fields, "title": "New"}) for n in range(1, 6)]
    the_plan = user_plan(halo, wanted + [person(n) for n in range(10, 17)])
    progress: list[tuple[str, int, int]] = []

    report = apply(the_plan, halo, dry_run=False, batch_size=3, log=log, progress=lambda *a: progress.append(a))

    assert [(len(call.payloads), call.idempotent) for call in halo.posts] == [
        (3, False), (3, False), (1, False), (3, True), (2, True),
    ]
    assert [(done, total) for _, done, total in progress] == [(3, 12), (6, 12), (7, 12), (10, 12), (12, 12)]
    assert report.counts[CREATE] == 7 and report.counts[UPDATE] == 5


def test_batches_are_grouped_by_resource(log) -> None:
    asset = Wanted("dev-1", "LAPTOP-1", {"intune_id": "dev-1", "inventory_number": "LAPTOP-1"})
    the_plan = Plan(
        plan(USER, [person(1)], [], owns=owns).changes + plan(ASSET, [asset], [], owns=owns).changes
        + plan(USER, [person(2)], [], owns=owns).changes
    )
    halo = FakeHalo(list_shape="whole")

    apply(the_plan, halo, dry_run=False, log=log)

    assert [(call.path, len(call.payloads)) for call in halo.posts] == [("Users", 2), ("Asset", 1)]
    assert halo.records("Asset")[0]["intune_id"] == "dev-1"


def test_a_refused_record_fails_alone_and_its_neighbours_land(log, caplog) -> None:
    halo = FakeHalo(list_shape="whole", reject=lambda path, payload: "name is not valid" if payload.get("name") == "Person 6" else None)
    the_plan = user_plan(halo, [person(n) for n in range(1, 9)])

    report = apply(the_plan, halo, dry_run=False, batch_size=8, log=log, integration="azure_ad",
                   connection="Contoso")

    assert sorted(record["name"] for record in halo.records("Users")) == [f"Person {n}" for n in (1, 2, 3, 4, 5, 7, 8)]
    assert report.counts[CREATE] == 7
    assert [(error.description, error.message) for error in report.errors] == [
        ("Create user Person 6", "Halo refused the request to /api/Users (400): name is not valid"),
    ]
    assert not report.ok
    (logged,) = halo.records("IntegrationError")
    assert logged["entity_type"] == "user"
    assert logged["entity_name"] == "Person 6"
    assert logged["endpoint"] == "/api/Users"
    assert logged["error"].startswith("Halo Integrator azure_ad Contoso: Create user Person 6: ")
    assert "name is not valid" in logged["error"]
    assert logged["date"].endswith("Z") and "entity_id" not in logged
    assert set(logged) - {"id"} <= INTEGRATION_ERROR_FIELDS
    assert any("Halo refused: Create user Person 6" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)


def test_a_refused_update_names_the_halo_record(log) -> None:
    halo = FakeHalo({"Users": [halo_person(5, title="Old")]},
                    reject=lambda path, payload: "title too long" if payload.get("title") == "New" else None, list_shape="whole")
    wanted = [Wanted("oid-5", "Person 5", {**person(5).fields, "title": "New"})]

    report = apply(user_plan(halo, wanted), halo, dry_run=False, log=log)

    assert report.counts[UPDATE] == 0 and len(report.errors) == 1
    (logged,) = halo.records("IntegrationError")
    assert logged["entity_id"] == 5 and logged["entity_name"] == "Person 5"


def test_integration_error_fields_exist_in_halos_schema() -> None:
    if not OPENAPI_SUBSET.exists():
        pytest.skip("sandbox/openapi_subset.json is not in this checkout")
    schema = json.loads(OPENAPI_SUBSET.read_text(encoding="utf-8"))["schemas"]["IntegrationError"]
    assert set(schema) == INTEGRATION_ERROR_FIELDS


def test_a_failure_to_record_the_integration_error_is_logged_not_raised(log, caplog) -> None:
    def halo_down_for_errors(path, payloads):
        return RetriableError("Halo kept answering 503", status=503) if path == "IntegrationError" else None

    halo = FakeHalo(list_shape="whole", reject=lambda path, payload: "bad" if payload.get("name") == "Person 2" else None,
                    fail=halo_down_for_errors)

    report = apply(user_plan(halo, [person(1), person(2)]), halo, dry_run=False, log=log)

    assert report.counts[CREATE] == 1 and len(report.errors) == 1
    assert any("Could not record the error in Halo" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("error", [
    RetriableError("Halo kept answering 503 Service Unavailable", status=503),
    HaloError("Halo answered 500", status=500),
    HaloError("Halo answered 403: the agent lacks permission", status=403),
    HaloError("Halo's answer was not JSON", status=None),
    AuthError("Halo refused the client secret"),
])
def test_errors_that_are_not_about_one_record_stop_the_apply(log, caplog, error) -> None:
    halo = FakeHalo(list_shape="whole", fail=lambda path, payloads: error if len(halo.posts) > 1 else None)
    the_plan = user_plan(halo, [person(n) for n in range(1, 6)])

    with pytest.raises(type(error)) as raised:
        apply(the_plan, halo, dry_run=False, batch_size=2, log=log)

    assert raised.value is error
    assert len(halo.posts) == 2  # one batch landed, the failing one was not split or repeated
    assert len(halo.records("Users")) == 2
    assert halo.records("IntegrationError") == []
    assert any("written before it: create 2" in r.getMessage() for r in caplog.records)


def test_cancel_between_batches(log, caplog) -> None:
    cancel = threading.Event()
    halo = FakeHalo(list_shape="whole")
    the_plan = user_plan(halo, [person(n) for n in range(1, 8)])

    with pytest.raises(Cancelled, match="after 3 of 7 changes"):
        apply(the_plan, halo, dry_run=False, batch_size=3, log=log, cancel=cancel,
              progress=lambda stage, done, total: cancel.set())

    assert len(halo.posts) == 1 and len(halo.records("Users")) == 3
    assert any("Stopped by the user: create 3" in r.getMessage() for r in caplog.records)


def test_cancel_before_the_first_batch_writes_nothing(log) -> None:
    cancel = threading.Event()
    cancel.set()
    halo = FakeHalo(list_shape="whole")

    with pytest.raises(Cancelled):
        apply(user_plan(halo, [person(1)]), halo, dry_run=False, log=log, cancel=cancel)

    assert halo.posts == []


def test_too_many_refused_records_stop_the_apply(log) -> None:
    halo = FakeHalo(list_shape="whole", reject=lambda path, payload: "bad" if path == "Users" else None)
    the_plan = user_plan(halo, [person(n) for n in range(1, 21)])

    report = apply(the_plan, halo, dry_run=False, batch_size=5, log=log, max_errors=3)

    assert len(report.errors) == 3
    assert "Halo refused 3 records" in report.failure and not report.ok
    assert len(halo.records("IntegrationError")) == 3
    assert len([call for call in halo.posts if call.path == "Users"]) < 10


def test_report_carries_the_plans_refusals_and_notes(log) -> None:
    halo = FakeHalo({"Users": [halo_person(n) for n in range(1, 21)]}, list_shape="whole")
    wanted = [person(1), person(1), person(30)]
    the_plan = user_plan(halo, wanted, policy=Policy(max_deactivations=5))

    report = apply(the_plan, halo, dry_run=False, log=log)

    assert report.refused == the_plan.refused and len(report.refused) == 1
    assert report.notes == the_plan.notes and len(report.notes) == 1
    assert report.counts == {CREATE: 1, LINK: 0, UPDATE: 0, DEACTIVATE: 0}
    assert not report.ok  # a held-back mass deactivation needs someone to look


def test_an_empty_plan_posts_nothing(log) -> None:
    halo = FakeHalo(list_shape="whole")

    report = apply(Plan(), halo, dry_run=False, log=log)

    assert halo.posts == [] and report.ok and report.summary() == "nothing to change"
