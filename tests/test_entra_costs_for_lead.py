"""FOR THE LEAD: a cost of the Entra sync (integrations/entra/__init__.py) that the stricter Graph emulator
exposes, kept as a strict xfail so the suite stays green until the fix is ported into the new contract.
When it is fixed, this test XPASSes and fails the run: remove the marker then.

Graph sends an updated user as a partial delta item (its id and the changed properties). The sync
reads by id every changed user Halo does not hold for the connection (`_read_arrivals`: `entering` +
`unsent_fields`), including users in no mapped group whom the connection will skip anyway (unmatched
users not imported). Each such change costs one `GET /v1.0/users/{id}` per run for nothing. The fix:
only read by id the users whose site the memberships give (``site_for_user(...) is not None``).
"""

from __future__ import annotations

import pytest

from tests.test_entra_strict_graph import make_world, transitive_scope


@pytest.mark.xfail(strict=True, reason="the Entra sync reads out-of-scope users by id after a partial delta item")
def test_changed_users_outside_every_mapped_group_are_not_read_by_id():
    world = make_world()
    try:
        world.sync()
        scope = transitive_scope(world)
        outside = [oid for oid in world.graph.tenant.users if oid not in scope][:5]
        for oid in outside:
            world.graph.update_user(oid, jobTitle="Moved desk")
        before = world.graph.counts["user"]
        report = world.sync()
        assert report.summary().startswith("nothing to change")
        assert world.graph.counts["user"] - before == 0  # today: 5, one per changed out-of-scope user
    finally:
        world.client.close()
        world.halo.stop()
        world.graph.stop()
