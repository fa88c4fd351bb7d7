"""A cursor older than Descope's 30-day audit retention: recorded, printed loudly, and dbt build warns."""

from __future__ import annotations

from tests.conftest import land_old_audit_cursor, query
from tests.e2e.test_end_to_end import descope_sync


def test_a_45_day_old_audit_cursor_is_reported_as_data_loss_by_the_run_and_by_dbt(simulator, tmp_path):
    sim = simulator(users=60)
    db = tmp_path / "warehouse.duckdb"
    land_old_audit_cursor(db, days_ago=45)

    result = descope_sync(["run"], sim, db)
    output = result.stdout + result.stderr
    assert result.returncode == 4, output  # permanent audit loss: the run must not say success
    assert "DATA LOSS" in output
    assert "assert_no_audit_retention_gaps" in output  # dbt build warns through its test
    gap = query(db, "select count(*) from descope_raw._sync_runs where status = 'data_loss'")[0][0]
    assert gap == 1
    assert query(db, "select count(*) from descope_data_v2.user_logins")[0][0] > 0
