"""dbt_project.yml repeats the contract's login actions, deletion actions, cursor statuses and audit retention."""

from __future__ import annotations

import yaml

from descope_sync import contract
from descope_sync.transform import project_dir


def project_vars() -> dict:
    return yaml.safe_load((project_dir() / "dbt_project.yml").read_text())["vars"]


def test_dbt_vars_equal_the_contract() -> None:
    dbt_vars = project_vars()
    assert tuple(dbt_vars["login_actions"]) == contract.LOGIN_ACTIONS
    assert tuple(dbt_vars["single_user_deletion_actions"]) == contract.SINGLE_USER_DELETION_ACTIONS
    assert tuple(dbt_vars["bulk_user_deletion_actions"]) == contract.BULK_USER_DELETION_ACTIONS
    assert not set(contract.SINGLE_USER_DELETION_ACTIONS) & set(contract.BULK_USER_DELETION_ACTIONS)
    assert tuple(dbt_vars["cursor_statuses"]) == tuple(str(s) for s in contract.CURSOR_STATUSES)
    assert dbt_vars["audit_retention_days"] == contract.AUDIT_RETENTION_DAYS


def test_fail_closed_overrides_are_empty_unless_set_in_the_environment() -> None:
    dbt_vars = project_vars()
    assert dbt_vars["confirm_deletions_sweep_id"] == "{{ env_var('DESCOPE_CONFIRM_DELETIONS_SWEEP_ID', '') }}"
    assert (
        dbt_vars["acknowledge_audit_data_loss_through"]
        == "{{ env_var('DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH', '') }}"
    )
