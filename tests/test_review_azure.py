"""Review findings on the Entra ID sync: a delta round is not a full read."""

from __future__ import annotations

from integrations.entra import graph as graph_module
from tests.test_azure_sync import in_scope, world  # noqa: F401 - the fixture

KEPT = {"id", "jobTitle"}


def _partial_deltas(monkeypatch) -> None:
    """Graph's documented delta shape: an updated user carries its id and at least the changed properties."""
    real_delta = graph_module.GraphClient.delta

    def delta(self, url, what="user changes"):
        result = real_delta(self, url, what)
        result.changed = {oid: {k: v for k, v in item.items() if k in KEPT} for oid, item in result.changed.items()}
        return result

    monkeypatch.setattr(graph_module.GraphClient, "delta", delta)


def test_a_partial_delta_item_changes_only_what_it_carries(world, monkeypatch):
    world.sync()
    scope = in_scope(world)
    before = world.users()
    disabled = next(oid for oid in scope if before[oid]["inactive"])
    enabled = next(oid for oid in scope if not before[oid]["inactive"])
    for oid in (disabled, enabled):
        world.graph.update_user(oid, jobTitle="Chief Tester")
    _partial_deltas(monkeypatch)
    report = world.sync()
    assert report.ok, report
    after = world.users()
    for oid in (disabled, enabled):
        assert after[oid]["title"] == "Chief Tester"
        changed = {name for name in after[oid] if after[oid].get(name) != before[oid].get(name)}
        assert changed <= {"title"}, (oid, {name: (before[oid].get(name), after[oid].get(name)) for name in changed})
    assert after[disabled]["inactive"], "a disabled user was reactivated by a delta item without accountEnabled"


def test_a_partial_delta_item_for_a_user_halo_lacks_is_read_in_full(world, monkeypatch):
    world.sync()
    outsider = next(oid for oid in world.graph.tenant.users if oid not in in_scope(world))
    world.configure(createunmatchedusers=True)
    world.sync()  # the mapping changed: a full read brings the outsider in at the unmatched site
    world.halo.state["users"] = {k: v for k, v in world.halo.state["users"].items() if v.get("azureoid") != outsider}
    world.graph.update_user(outsider, jobTitle="Chief Tester")
    _partial_deltas(monkeypatch)
    report = world.sync()
    assert report.ok, report
    created = world.users()[outsider]
    source = world.graph.tenant.users[outsider]
    assert created["name"] == source["displayName"] and created["login"] == source["userPrincipalName"]


def _empty_listing(monkeypatch, path: str) -> None:
    """Graph answers `path` with a well-formed, empty listing: the extreme short read."""
    real_list_all = graph_module.GraphClient.list_all

    def list_all(self, listing, params, what):
        return [] if listing == path else real_list_all(self, listing, params, what)

    monkeypatch.setattr(graph_module.GraphClient, "list_all", list_all)


def test_an_empty_user_read_deactivates_nobody_even_when_mass_deactivation_is_allowed(world, monkeypatch):
    world.configure(createunmatchedusers=True)
    world.sync()
    world.local["allow_mass_deactivation"] = True  # left on after a real mass departure once
    world.state.source.clear()  # a full read
    _empty_listing(monkeypatch, "/v1.0/users")
    report = world.sync()
    assert report.counts.get("deactivate", 0) == 0
    assert all(not user["inactive"] or world.graph.tenant.users[oid]["accountEnabled"] is False
               for oid, user in world.users().items())


def test_an_empty_intune_read_deactivates_no_device(world, monkeypatch):
    world.sync()
    world.local["allow_mass_deactivation"] = True
    _empty_listing(monkeypatch, "/v1.0/deviceManagement/managedDevices")
    report = world.sync()
    assert report.counts.get("deactivate", 0) == 0
    assert not any(asset["inactive"] for asset in world.assets().values())
    assert any("Intune" in reason for reason in report.refused)


def test_a_refused_mass_deactivation_goes_through_once_allowed_on_the_next_delta_run(world):
    world.configure(createunmatchedusers=True)
    world.sync()
    scope = list(in_scope(world))
    removed = scope[::3][:20]  # from every group, so that no group comes back empty
    for oid in removed:
        world.graph.remove(oid)
    report = world.sync()
    assert report.counts["deactivate"] == 0 and "Refused to deactivate 20" in report.refused[0]
    world.local["allow_mass_deactivation"] = True  # what the refusal tells the admin to do; no state cleared
    report = world.sync()
    users = world.users()
    assert report.counts["deactivate"] == 20
    assert all(users[oid]["inactive"] for oid in removed)
