"""Review findings on the runner: one integration's trouble must not stop the others."""

from halointegrator.errors import EXIT_INTEGRATION_FAILED, HaloError
from halointegrator.engine.model import Report
from halointegrator.engine.runner import RunOptions, run_all
from tests.test_run import LOG, RecordingHalo, connection, fake_integration


def test_an_integration_whose_connections_cannot_be_listed_does_not_stop_the_others():
    def unlisted(halo):
        raise HaloError("Halo at acme answered HTTP 403 Forbidden (request: GET azureadconnection)", 403)

    broken = fake_integration([], sync=None)
    broken = broken.__class__(**{**broken.__dict__, "name": "broken", "title": "Broken", "list_connections": unlisted})
    synced = []
    working = fake_integration([connection(7)], lambda ctx, c: synced.append(c["id"]) or Report("fake", c["name"]))
    halo = RecordingHalo()
    result = run_all(halo, registry={"broken": broken, "fake": working}, client_id="ours", log=LOG,
                     options=RunOptions())
    assert synced == [7]
    assert [path for path, _ in halo.posts] == ["LDAPConnection"]  # the working connection's Last Sync
    assert result.exit_code == EXIT_INTEGRATION_FAILED
    assert any("403" in report.failure for report in result.reports)


def test_only_still_runs_the_named_integration():
    synced = []
    working = fake_integration([connection(7)], lambda ctx, c: synced.append(c["id"]) or Report("fake", c["name"]))
    result = run_all(RecordingHalo(), registry={"fake": working}, client_id="ours", log=LOG,
                     options=RunOptions(only="fake"))
    assert synced == [7] and result.exit_code == 0
