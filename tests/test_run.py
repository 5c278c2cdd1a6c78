"""The runner: which connections run, how failures are contained, what is written back, what state is kept."""

import logging
import threading

import pytest

from halointegrator.engine.model import (
    Check, ConnectionSource, EntityKind, Integration, KindRead, RecordError, Report, SourceRead,
)
from halointegrator.engine.runner import (
    RunOptions, RunSetup, allowed_client_ids, enabled_for, last_error_text, run_all,
)
from halointegrator.engine.status import ConnectionState, Entry, KindStatus
from halointegrator.errors import (
    EXIT_CONFIG, EXIT_INTEGRATION_FAILED, EXIT_OK, AuthError, Cancelled, HaloError, SourceError,
)

LOG = logging.getLogger("test-run")
USERS = EntityKind("user", "Users", "users", "third_party_guid")


class RecordingHalo:
    """Just enough of HaloClient for the runner: InstanceInfo, a users list and the POSTs."""

    def __init__(self, fail_instance_info=None, users=()):
        self.posts = []
        self.fail_instance_info = fail_instance_info
        self.users = list(users)

    def get(self, path, params=None):
        if self.fail_instance_info:
            raise self.fail_instance_info
        assert path == "InstanceInfo"
        return {"app_version": "2.184.21"}

    def list(self, path, key, params=None, page_size=None):
        assert path == "Users"
        return [dict(user) for user in self.users]

    def post(self, path, records, *, idempotent):
        self.posts.append((path, records))
        return records


def nothing(ctx, connection):
    return SourceRead([])


def fake_integration(connections, read=nothing, name="fake", listing=None):
    return Integration(
        name=name, title=name.title(), description="test",
        connections=ConnectionSource("LDAPConnection", listing or (lambda halo: connections)),
        prerequisites=(), local_settings=(),
        check=lambda ctx, connection: [Check("ok", True)],
        read=read,
    )


def connection(id_, enabled=True, allowed=""):
    return {"id": id_, "name": f"conn{id_}", "halointegratorenabled": enabled, "halointegrator_allowedclientids": allowed}


def run(halo, integration, states=None, cancel=None, **options):
    setup = RunSetup(client_id="ours", log=LOG, options=RunOptions(**options), states=states if states is not None else {})
    if cancel is not None:
        setup.cancel = cancel
    return run_all(halo, {integration.name: integration}, setup)


@pytest.mark.parametrize("record, expected", [
    (connection(1), True),
    (connection(1, enabled=False), False),
    (connection(1, allowed="ours"), True),
    (connection(1, allowed="theirs, other"), False),
    (connection(1, allowed="theirs;ours"), True),
    ({**connection(1), "halointegrator_allowedclientidslist": [{"value": "theirs", "label": "x"}]}, False),
    ({**connection(1), "halointegratorenabled": "on"}, True),  # the one word list of values.flag
])
def test_enabled_for(record, expected):
    assert enabled_for(fake_integration([]), record, "ours")[0] is expected


def test_the_enabled_rule_reads_the_fields_the_integration_names():
    integration = Integration(**{**fake_integration([]).__dict__, "connections": ConnectionSource(
        "Control", lambda halo: [], enabled_field="halointegrator_lansweeper",
        allowed_fields=("lansweeper_allowed_clientids_list",))})
    record = {"id": 1, "halointegrator_lansweeper": True,
              "lansweeper_allowed_clientids_list": [{"value": "theirs"}], "halointegratorenabled": False}
    assert enabled_for(integration, record, "theirs") == (True, "")
    assert enabled_for(integration, record, "ours")[0] is False


def test_allowed_client_ids_ignore_blanks():
    assert allowed_client_ids(fake_integration([]), {"halointegrator_allowedclientids": " a , ,b "}) == {"a", "b"}


def test_nothing_enabled_exits_zero_and_says_so(caplog):
    halo = RecordingHalo()
    with caplog.at_level(logging.INFO, logger="test-run"):
        result = run(halo, fake_integration([connection(1, enabled=False)]))
    assert result.exit_code == EXIT_OK
    assert "No integration is enabled" in caplog.text
    assert halo.posts == []


def test_success_writes_last_sync_and_clears_last_error():
    halo = RecordingHalo()
    result = run(halo, fake_integration([connection(7)]))
    assert result.exit_code == EXIT_OK
    [(path, [payload])] = halo.posts
    assert path == "LDAPConnection"
    assert payload["id"] == 7 and payload["halointegrator_lasterror"] == ""
    assert payload["halointegrator_lastsync"].endswith("Z")


def test_one_failure_does_not_stop_the_others_and_keeps_last_sync():
    def read(ctx, c):
        if c["id"] == 1:
            raise SourceError("LDAP server stopped mid-search; nothing was changed")
        return SourceRead([])

    halo = RecordingHalo()
    result = run(halo, fake_integration([connection(1), connection(2)], read))
    assert result.exit_code == EXIT_INTEGRATION_FAILED
    first, second = (records[0] for _, records in halo.posts)
    assert "stopped mid-search" in first["halointegrator_lasterror"]
    assert "halointegrator_lastsync" not in first
    assert second["halointegrator_lasterror"] == "" and "halointegrator_lastsync" in second


def test_internal_error_in_an_integration_is_contained():
    def read(ctx, c):
        raise KeyError("boom")

    halo = RecordingHalo()
    result = run(halo, fake_integration([connection(1)], read))
    assert result.exit_code == EXIT_INTEGRATION_FAILED
    assert "Internal error (KeyError)" in halo.posts[0][1][0]["halointegrator_lasterror"]


def test_dry_run_writes_nothing_back():
    halo = RecordingHalo()
    result = run(halo, fake_integration([connection(1)]), dry_run=True)
    assert result.exit_code == EXIT_OK and halo.posts == []
    assert result.reports[0].dry_run


def owned_users(count):
    users = [{"id": n, "name": f"P{n}", "inactive": False} for n in range(1, count + 1)]
    status = KindStatus({f"guid-{n}": Entry(n) for n in range(1, count + 1)})
    return users, {"fake:1": ConnectionState({"user": status})}


def test_refused_guard_is_a_failure_with_its_reason_in_last_error():
    users, states = owned_users(20)
    halo = RecordingHalo(users=users)
    everyone_left = fake_integration([connection(1)], lambda ctx, c: SourceRead([KindRead(USERS, [])]))
    assert run(halo, everyone_left, states).exit_code == EXIT_INTEGRATION_FAILED
    assert [path for path, _ in halo.posts] == ["LDAPConnection"]  # no deactivation, only Last Error
    assert "allow_mass_deactivation" in halo.posts[0][1][0]["halointegrator_lasterror"]


def test_the_source_state_moves_on_only_after_a_clean_real_run():
    def read(ctx, c):
        if c["id"] == 2:
            raise SourceError("Graph failed")
        return SourceRead([], state={"delta": f"link{c['id']}"})

    states = {"fake:2": ConnectionState(source={"delta": "old"})}
    run(RecordingHalo(), fake_integration([connection(1), connection(2)], read), states)
    assert {key: state.source for key, state in states.items()} == {"fake:1": {"delta": "link1"},
                                                                      "fake:2": {"delta": "old"}}
    states = {}
    run(RecordingHalo(), fake_integration([connection(1)], read), states, dry_run=True)
    assert states == {}


def test_a_refused_run_keeps_the_old_source_state():
    users, states = owned_users(20)
    states["fake:1"].source = {"delta": "old"}
    refused = fake_integration([connection(1)], lambda ctx, c: SourceRead([KindRead(USERS, [])], state={"delta": "new"}))
    run(RecordingHalo(users=users), refused, states)
    assert states["fake:1"].source == {"delta": "old"}


def test_cancel_between_connections():
    cancel = threading.Event()

    def read(ctx, c):
        cancel.set()
        return SourceRead([])

    with pytest.raises(Cancelled):
        run(RecordingHalo(), fake_integration([connection(1), connection(2)], read), cancel=cancel)


def test_last_error_lists_record_errors():
    report = Report("fake", "c", errors=[RecordError("Create user Ada", "site_id 99 does not exist")])
    assert "1 record(s) refused by Halo; first: Create user Ada: site_id 99 does not exist" == last_error_text(report)


def test_unknown_only_is_a_config_error():
    result = run(RecordingHalo(), fake_integration([]), only="nope")
    assert result.exit_code == EXIT_CONFIG and "Unknown integration 'nope'" in result.message


def test_wrong_credentials_stop_the_run_with_exit_2():
    halo = RecordingHalo(fail_instance_info=AuthError("Halo refused the client ID or secret"))
    result = run(halo, fake_integration([connection(1)]))
    assert result.exit_code == EXIT_CONFIG and "refused" in result.message


def test_an_integration_whose_connections_cannot_be_listed_does_not_stop_the_others():
    def unlisted(halo):
        raise HaloError("Halo at acme answered HTTP 403 Forbidden (request: GET azureadconnection)", 403)

    read = []
    broken = fake_integration([], name="broken", listing=unlisted)
    working = fake_integration([connection(7)], lambda ctx, c: read.append(c["id"]) or SourceRead([]))
    halo = RecordingHalo()
    setup = RunSetup(client_id="ours", log=LOG)
    result = run_all(halo, {"broken": broken, "fake": working}, setup)
    assert read == [7]
    assert [path for path, _ in halo.posts] == ["LDAPConnection"]  # the working connection's Last Sync
    assert result.exit_code == EXIT_INTEGRATION_FAILED
    assert any("403" in report.failure for report in result.reports)


def test_only_still_runs_the_named_integration():
    read = []
    working = fake_integration([connection(7)], lambda ctx, c: read.append(c["id"]) or SourceRead([]))
    result = run(RecordingHalo(), working, only="fake")
    assert read == [7] and result.exit_code == 0


def test_details_are_read_only_for_connections_this_integrator_runs_and_shared_reads_once():
    reads = []

    class Listing(RecordingHalo):
        def get(self, path, params=None):
            reads.append(path)
            return {"id": 1, "name": "Control", "halointegratorenabled": True} if path == "Control" else super().get(path)

    def detail(halo, record):
        reads.append(f"detail {record['id']}")
        return {**record, "details": True}

    listing = lambda halo: [connection(1), connection(2, enabled=False), connection(3, allowed="theirs")]  # noqa: E731
    integration = Integration(**{**fake_integration([]).__dict__, "connections": ConnectionSource(
        "LDAPConnection", listing, detail)})
    shared = [Integration(**{**fake_integration([]).__dict__, "name": name, "connections": ConnectionSource(
        "Control", lambda halo: [halo.get("Control")])}) for name in ("first", "second")]
    setup = RunSetup(client_id="ours", log=LOG, options=RunOptions(dry_run=True))
    run_all(Listing(), {"fake": integration, **{one.name: one for one in shared}}, setup)
    assert reads.count("detail 1") == 1 and "detail 2" not in reads and "detail 3" not in reads
    assert reads.count("Control") == 1


def test_a_failed_connection_is_not_logged_as_finished(caplog):
    import logging

    from halointegrator.engine.model import Report
    from halointegrator.engine.runner import log_report

    log = logging.getLogger("review-ux")
    with caplog.at_level(logging.INFO, logger="review-ux"):
        log_report(Report("active_directory", "HQ", failure="no OU mapping"), "Active Directory", log)
        log_report(Report("active_directory", "HQ"), "Active Directory", log)
    assert caplog.messages == ["Active Directory: HQ failed: no OU mapping",  # the failure itself is named
                               "Active Directory: HQ stopped by that failure; done before it: nothing",
                               "Active Directory: HQ finished: nothing to change"]
