"""Entra ID's Check Configuration answers every prerequisite row of its tab, also when nothing is mapped."""

from __future__ import annotations

from integrations import REGISTRY
from tests.core_helpers import context_for
from tests.fake_halo import FakeHalo

CONNECTION = {"id": 1, "name": "Entra", "halointegratorenabled": True}


def site_results(halo: FakeHalo, connection: dict) -> list:
    return [result for result in REGISTRY["azure_ad"].check(context_for(halo), connection)
            if result.prerequisite == "sites"]


def test_a_connection_that_maps_no_site_gets_a_cross_that_says_to_map_one() -> None:
    """Without it the tab leaves the row 'Each mapped site exists in Halo' blank after the check."""
    [result] = site_results(FakeHalo({}), CONNECTION)
    assert not result.ok and "no site mapped" in result.detail


def test_a_mapped_site_is_looked_up_in_halo() -> None:
    halo = FakeHalo({"Site": [{"id": 7, "name": "Leeds"}]})
    [result] = site_results(halo, {**CONNECTION, "createunmatchedusers": True, "unmatchedusersite": 7})
    assert result.ok and result.label == "Site 7 exists in Halo" and result.detail == "Leeds"
