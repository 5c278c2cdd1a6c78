"""What a delta run costs in Graph requests, as the stricter emulator shows it.

Graph sends an updated user as a partial delta item (its id and the changed properties). A changed
user this connection does not hold in Halo is read by id in full (a partial item cannot create one),
but only when the mapping gives it a site: a user in no mapped group is skipped anyway (unmatched
users not imported), and reading it would cost one `GET /v1.0/users/{id}` per change for nothing.
"""

from __future__ import annotations

from tests.test_entra_strict_graph import make_world, transitive_scope


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
        assert world.graph.counts["user"] - before == 0  # not one read per changed out-of-scope user
    finally:
        world.client.close()
        world.halo.stop()
        world.graph.stop()
