"""README's first command ends in `python -m sandbox`: a full sync of the sandbox that says what it did."""

import subprocess
import sys

from tests.cli_helpers import REPO


def test_demo_runs_a_full_sync_and_says_where_the_log_went(tmp_path):
    workdir = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "sandbox", "--users", "60", "--ldap-users", "30",
                             "--workdir", str(workdir)], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "integrator.py AUTO exit code 0" in result.stdout
    assert "azure_ad" in result.stdout and "create" in result.stdout
    assert f"Log: {workdir / 'logs'}" in result.stdout
    assert list((workdir / "logs").glob("HaloIntegrator-*.log"))
