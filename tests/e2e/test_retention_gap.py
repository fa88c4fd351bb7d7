"""A cursor older than Descope's 30-day audit retention: recorded, exit 4 and a failing dbt test until acknowledged."""

from __future__ import annotations

from tests.conftest import land_old_audit_cursor, query
from tests.e2e.test_end_to_end import descope_sync


def test_a_45_day_old_audit_cursor_is_data_loss_until_someone_acknowledges_it(simulator, tmp_path):
    sim = simulator(users=60)
    db = tmp_path / "warehouse.duckdb"
    land_old_audit_cursor(db, days_ago=45)

    result = descope_sync(["run"], sim, db)
    output = result.stdout + result.stderr
    assert result.returncode == 4, output  # permanent audit loss: the run must not say success
    assert "DATA LOSS" in output
    assert "assert_no_audit_data_loss" in output and "DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH" in output
    lost = query(db, "select count(*), max(finished_at) from descope_raw._sync_runs where status = 'data_loss'")[0]
    assert lost[0] == 1
    assert query(db, "select count(*) from descope_data_v2.user_logins")[0][0] > 0  # the marts still built

    again = descope_sync(["run"], sim, db)  # the loss is in the past, but nobody has acknowledged it
    assert again.returncode == 4, again.stdout + again.stderr
    acknowledged = descope_sync(
        ["run"], sim, db, extra_env={"DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH": lost[1].isoformat(sep=" ")}
    )
    assert acknowledged.returncode == 0, acknowledged.stdout + acknowledged.stderr
