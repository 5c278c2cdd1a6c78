"""Which Halo records a connection may deactivate, end to end (`integrator.py AUTO`, the Halo sandbox, an LDAP
server on 127.0.0.1): only records it wrote, and never more leavers in a week than the guard allows.

Found by the attack review: the mass-deactivation guard counted one run only, so a directory that lost
ten people a run was emptied one scheduled run at a time; and ownership was whatever the state file
said, so one line written into it made the connection deactivate a record it never wrote.
"""

from __future__ import annotations

import json
import os

import pytest

from sandbox.halo_server import HaloSandbox
from tests.hostile_ldap import HostileLdap
from tests.hostile_world import HALO_SECRET, IntegratorFolder, enable_directory

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX test harness")


def ad_users(halo) -> list[dict]:
    return [user for user in halo.records("users") if str(user.get("name", "")).startswith("User ")]


def test_ten_leavers_a_run_are_refused_once_the_weeks_total_passes_the_guard(tmp_path) -> None:
    """The guard (more than 10 and more than 10%) counts the deactivations of the last 7 days, of the
    population at the window's start: 40 people, then 30, 20, 10 on three runs deactivates the first ten
    only, and the refusal says how many went in the window and how to allow it."""
    with HaloSandbox(client_secret=HALO_SECRET) as halo, HostileLdap(bind="ok", people=40) as ldap:
        folder = IntegratorFolder(tmp_path, halo.url)
        enable_directory(halo, folder, ldap.port)
        assert folder.auto().code == 0, folder.log()[-2000:]
        assert len([u for u in ad_users(halo) if not u.get("inactive")]) == 40
        codes = []
        for remaining in (30, 20, 10):  # each scheduled run, ten fewer people
            ldap.people = remaining
            codes.append(folder.auto().code)
        inactive = [u for u in ad_users(halo) if u.get("inactive")]
        assert len(inactive) == 10, folder.log()[-3000:]
        assert codes == [0, 1, 1]  # a refusal is a failed run: Last Error says why
        log = folder.log()
        assert "Refused to deactivate 10 more of the 30 active user(s)" in log
        assert "10 were deactivated in the last 7 days already" in log and "allow_mass_deactivation" in log
        ldap.people = 10
        assert folder.auto("--allow-mass-deactivation").code == 0  # the admin allows it: the window starts afresh
        assert len([u for u in ad_users(halo) if u.get("inactive")]) == 30


def test_a_state_file_entry_written_outside_the_integrator_deactivates_nothing(tmp_path) -> None:
    """The sync status is signed (an HMAC keyed from the key file): an entry someone wrote into the state
    file makes it untrusted, so it is set aside and the status rebuilt from Halo, as after a lost file. The
    record the line named, which this connection never wrote, stays active, and the log says why."""
    with HaloSandbox(client_secret=HALO_SECRET) as halo, HostileLdap(bind="ok", people=3) as ldap:
        folder = IntegratorFolder(tmp_path, halo.url)
        enable_directory(halo, folder, ldap.port)
        assert folder.auto().code == 0, folder.log()[-2000:]
        victim = halo.add("users", {"name": "The CEO", "emailaddress": "ceo@example.com", "site_id": 1,
                                    "inactive": False})
        state_file = folder.config.with_name("HaloIntegrator.state")
        state = json.loads(state_file.read_text())
        kinds = state["connections"]["active_directory:1"]["kinds"]
        kinds["user"]["records"]["forged-key"] = [victim, {}]  # one line, written by anyone who can write it
        state_file.write_text(json.dumps(state))
        assert folder.auto().code == 0, folder.log()[-2000:]
        assert not halo.get("users", victim).get("inactive"), "a user the connection never wrote was deactivated"
        assert "was changed outside the Integrator" in folder.log()
        assert list(folder.config.parent.glob("HaloIntegrator.state.changed-*"))
        assert len([u for u in ad_users(halo) if not u.get("inactive")]) == 3  # rebuilt: nobody created again
        assert len(ad_users(halo)) == 3
