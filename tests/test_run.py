"""The runner: which connections run, how failures are contained, what is written back."""

import logging
import threading

import pytest

from halointegrator.errors import EXIT_CONFIG, EXIT_INTEGRATION_FAILED, EXIT_OK, AuthError, Cancelled, SourceError
from halointegrator.engine.model import Check, Integration, RecordError, Report
from halointegrator.engine.runner import RunOptions, enabled_for, last_error_text, run_all, split_client_ids

LOG = logging.getLogger("test-run")


class RecordingHalo:
    """Just enough of HaloClient for the runner: InstanceInfo and the write-back POST."""

    def __init__(self, fail_instance_info=None):
        self.posts = []
        self.fail_instance_info = fail_instance_info

    def get(self, path, params=None):
        if self.fail_instance_info:
            raise self.fail_instance_info
        assert path == "InstanceInfo"
        return {"app_version": "2.184.21"}

    def post(self, path, records, *, idempotent):
        self.posts.append((path, records))
        return records


def fake_integration(connections, sync):
    return Integration(
        name="fake", title="Fake", description="test", connection_path="LDAPConnection",
        prerequisites=(), local_settings=(),
        list_connections=lambda halo: connections,
        check=lambda ctx, connection: [Check("ok", True)],
        sync=sync,
    )


def connection(id_, enabled=True, allowed=""):
    return {"id": id_, "name": f"conn{id_}", "halointegratorenabled": enabled, "halointegrator_allowedclientids": allowed}


def run(halo, integration, **options):
    return run_all(halo, registry={"fake": integration}, client_id="ours", log=LOG, options=RunOptions(**options))


@pytest.mark.parametrize("record, expected", [
    (connection(1), True),
    (connection(1, enabled=False), False),
    (connection(1, allowed="ours"), True),
    (connection(1, allowed="theirs, other"), False),
    (connection(1, allowed="theirs;ours"), True),
    ({**connection(1), "halointegrator_allowedclientidslist": [{"value": "theirs", "label": "x"}]}, False),
])
def test_enabled_for(record, expected):
    assert enabled_for(record, "ours")[0] is expected


def test_split_client_ids_ignores_blanks():
    assert split_client_ids({"halointegrator_allowedclientids": " a , ,b "}) == {"a", "b"}


def test_nothing_enabled_exits_zero_and_says_so(caplog):
    halo = RecordingHalo()
    with caplog.at_level(logging.INFO, logger="test-run"):
        result = run(halo, fake_integration([connection(1, enabled=False)], sync=None))
    assert result.exit_code == EXIT_OK
    assert "No integration is enabled" in caplog.text
    assert halo.posts == []


def test_success_writes_last_sync_and_clears_last_error():
    halo = RecordingHalo()
    result = run(halo, fake_integration([connection(7)], lambda ctx, c: Report("fake", c["name"])))
    assert result.exit_code == EXIT_OK
    [(path, [payload])] = halo.posts
    assert path == "LDAPConnection"
    assert payload["id"] == 7 and payload["halointegrator_lasterror"] == ""
    assert payload["halointegrator_lastsync"].endswith("Z")


def test_one_failure_does_not_stop_the_others_and_keeps_last_sync():
    def sync(ctx, c):
        if c["id"] == 1:
            raise SourceError("LDAP server stopped mid-search; nothing was changed")
        return Report("fake", c["name"])

    halo = RecordingHalo()
    result = run(halo, fake_integration([connection(1), connection(2)], sync))
    assert result.exit_code == EXIT_INTEGRATION_FAILED
    first, second = (records[0] for _, records in halo.posts)
    assert "stopped mid-search" in first["halointegrator_lasterror"]
    assert "halointegrator_lastsync" not in first
    assert second["halointegrator_lasterror"] == "" and "halointegrator_lastsync" in second


def test_internal_error_in_an_integration_is_contained():
    def sync(ctx, c):
        raise KeyError("boom")

    halo = RecordingHalo()
    result = run(halo, fake_integration([connection(1)], sync))
    assert result.exit_code == EXIT_INTEGRATION_FAILED
    assert "Internal error (KeyError)" in halo.posts[0][1][0]["halointegrator_lasterror"]


def test_dry_run_writes_nothing_back():
    halo = RecordingHalo()
    result = run(halo, fake_integration([connection(1)], lambda ctx, c: Report("fake", c["name"], dry_run=ctx.dry_run)),
                 dry_run=True)
    assert result.exit_code == EXIT_OK and halo.posts == []
    assert result.reports[0].dry_run


def test_refused_guard_is_a_failure_with_its_reason_in_last_error():
    def sync(ctx, c):
        return Report("fake", c["name"], refused=["Refused to deactivate 50 of 60 users; set allow_mass_deactivation"])

    halo = RecordingHalo()
    assert run(halo, fake_integration([connection(1)], sync)).exit_code == EXIT_INTEGRATION_FAILED
    assert "allow_mass_deactivation" in halo.posts[0][1][0]["halointegrator_lasterror"]


def test_wrong_credentials_stop_the_run_with_exit_2():
    halo = RecordingHalo(fail_instance_info=AuthError("Halo refused the client ID or secret"))
    result = run(halo, fake_integration([connection(1)], sync=None))
    assert result.exit_code == EXIT_CONFIG and "refused" in result.message


def test_state_kept_only_for_connections_that_succeeded():
    def sync(ctx, c):
        ctx.state_for("fake", c["id"])["delta"] = f"link{c['id']}"
        if c["id"] == 2:
            raise SourceError("Graph failed")
        return Report("fake", c["name"])

    state = {"fake:2": {"delta": "old"}}
    run_all(RecordingHalo(), registry={"fake": fake_integration([connection(1), connection(2)], sync)},
            client_id="ours", log=LOG, state=state)
    assert state == {"fake:1": {"delta": "link1"}, "fake:2": {"delta": "old"}}


def test_cancel_between_connections():
    cancel = threading.Event()

    def sync(ctx, c):
        cancel.set()
        return Report("fake", c["name"])

    with pytest.raises(Cancelled):
        run_all(RecordingHalo(), registry={"fake": fake_integration([connection(1), connection(2)], sync)},
                client_id="ours", log=LOG, cancel=cancel)


def test_last_error_lists_record_errors():
    report = Report("fake", "c", errors=[RecordError("Create user Ada", "site_id 99 does not exist")])
    assert "1 record(s) refused by Halo; first: Create user Ada: site_id 99 does not exist" == last_error_text(report)


def test_unknown_only_is_a_config_error():
    result = run(RecordingHalo(), fake_integration([], sync=None), only="nope")
    assert result.exit_code == EXIT_CONFIG and "Unknown integration 'nope'" in result.message
