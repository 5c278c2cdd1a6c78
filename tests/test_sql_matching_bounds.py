"""What a source row may be matched to in Halo, end to end (`integrator.py AUTO`, real PostgreSQL over unixODBC,
the Halo sandbox): only a record of the clients the connection's sites belong to, and never an inactive
record this connection did not deactivate. Such a row is left (neither taken nor created: a duplicate
would be worse), and the run warns naming its key and the Halo record.

Found by the attack review: a scanned machine reporting the serial of another client's asset took that
asset over (moved to the import's site, its users cleared); a users row with a leaver's e-mail
reactivated that leaver and moved them to another site.
"""

from __future__ import annotations

import pytest

from sandbox.database import READER
from tests.e2e_sql import SqlWorld
from tests.sql_helpers import DeviceTable, asset_import, user_import

pytestmark = pytest.mark.postgres
LONDON, OTHER_CLIENTS_SITE = 2, 9


def test_a_row_with_the_serial_of_another_clients_asset_neither_takes_it_nor_duplicates_it(halo, postgres,
                                                                                          tmp_path) -> None:
    """Matching stays inside the clients of the connection's sites: the other client's asset keeps its site,
    name and users, no second asset with that serial is made, and Last Error names the row's key and the
    asset's id."""
    victim = DeviceTable.create(postgres, [("VICTIM-1", "PC-TAKEN", "London", "Windows", 1, None)])
    try:
        world = SqlWorld(halo, tmp_path, postgres, imports=[asset_import(postgres, victim.name, record_id=21)])
        halo.add("clients", {"id": 2, "name": "Other Client", "inactive": False})
        halo.add("sites", {"id": OTHER_CLIENTS_SITE, "name": "Other Client HQ", "client_id": 2, "inactive": False})
        asset_id = halo.add("assets", {"inventory_number": "CFO laptop (other client)", "key_field": "VICTIM-1",
                                       "site_id": OTHER_CLIENTS_SITE, "client_id": 2, "assettype_id": 1,
                                       "users": [{"id": 101}], "inactive": False})
        result = world.auto()
        assert result.returncode == 0, world.run_log()
        asset = halo.get("assets", asset_id)
        assert (asset["site_id"], asset["inventory_number"]) == (OTHER_CLIENTS_SITE, "CFO laptop (other client)")
        assert asset.get("users") == [{"id": 101}]
        assert [a["id"] for a in halo.records("assets") if a.get("key_field") == "VICTIM-1"] == [asset_id]
        last_error = world.sql_import(21).get("halointegrator_lasterror") or ""
        assert "'VICTIM-1'" in last_error and f"#{asset_id}" in last_error and "another client" in last_error
        assert "1 skipped" in world.run_log()
    finally:
        victim.drop()


def test_a_users_row_matching_a_user_another_connection_deactivated_leaves_them_inactive_where_they_are(
        halo, postgres, tmp_path) -> None:
    """User 101 left: the AD connection (or a person) made them inactive. A users import row with the same
    e-mail does not reactivate or move them, and creates nobody in their place; the run warns, saying to
    reactivate the user in Halo if the row should be imported."""
    postgres.admin_sql(f"CREATE TABLE owners_people (email text, fullname text, office text, phone text); "
                       f"INSERT INTO owners_people VALUES ('user001@example.com', 'User 001', 'Paris', '1'); "
                       f"GRANT SELECT ON owners_people TO {READER}")
    try:
        record = user_import(postgres, record_id=22, sql="SELECT email, fullname, office, phone FROM owners_people",
                             keyfield="email", fields=[{"id": 6, "thirdpartyname": "fullname", "nhdname": "name"},
                                                       {"id": 8, "thirdpartyname": "office", "is_site_field": True}])
        world = SqlWorld(halo, tmp_path, postgres, imports=[record])
        with halo.lock:
            halo.state["users"][101].update(inactive=True, site_id=LONDON)
        result = world.auto()
        assert result.returncode == 0, world.run_log()
        user = halo.get("users", 101)
        assert (user["inactive"], user["site_id"]) == (True, LONDON), user
        assert [u["id"] for u in halo.records("users") if u.get("emailaddress") == "user001@example.com"] == [101]
        assert ("matches inactive Halo user #101, which this connection did not deactivate; reactivate it in "
                "Halo if it should be imported") in world.run_log()
    finally:
        postgres.admin_sql("DROP TABLE IF EXISTS owners_people")
