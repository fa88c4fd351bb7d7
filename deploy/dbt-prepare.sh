#!/usr/bin/env bash
# The first step of every Cloud Build that runs dbt (cloudbuild.yaml, deploy/cloudbuild-dbt.yaml):
#  1. waits while an older build tagged descope-dbt is still queued or running, so two dbt builds
#     never write the marts at once (the function starts one after every extract);
#  2. writes /workspace/dbt.env with the two operator settings dbt reads, taken from the function's
#     environment: the one place they are set (README, runbook), so every dbt build, whoever
#     started it, sees what the extractor sees.
# Needs: PROJECT_ID, BUILD_ID, REGION, FUNCTION; for the build's service account, cloudbuild.builds.get
# and .list (setup.sh's custom role descopeSyncBuildReader) and roles/cloudfunctions.viewer on the function.
set -euo pipefail
: "${PROJECT_ID:?}" "${BUILD_ID:?}" "${REGION:?}" "${FUNCTION:?}"
WAIT_SECONDS=${WAIT_SECONDS:-2400}
OUT=${DBT_ENV_FILE:-/workspace/dbt.env}

created=$(gcloud builds describe "$BUILD_ID" --project="$PROJECT_ID" --region="$REGION" --format='value(createTime)')
deadline=$((SECONDS + WAIT_SECONDS))
while :; do
  older=$(gcloud builds list --project="$PROJECT_ID" --region="$REGION" --ongoing \
    --filter="tags:descope-dbt AND createTime<\"$created\" AND id!=$BUILD_ID" --format='value(id)')
  if [[ -z "$older" ]]; then
    break
  fi
  if ((SECONDS > deadline)); then
    printf 'an older dbt build is still running after %ss: %s; giving up (the next extract starts another)\n' \
      "$WAIT_SECONDS" "$older" >&2
    exit 1
  fi
  printf 'waiting for the older dbt build(s) to finish: %s\n' "$older"
  sleep 20
done

setting() {
  gcloud functions describe "$FUNCTION" --v2 --project="$PROJECT_ID" --region="$REGION" \
    --format="value(serviceConfig.environmentVariables.$1)"
}
confirm=$(setting DESCOPE_CONFIRM_DELETIONS_SWEEP_ID)
acknowledge=$(setting DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH)
{
  printf 'DESCOPE_CONFIRM_DELETIONS_SWEEP_ID=%q\n' "$confirm"
  printf 'DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH=%q\n' "$acknowledge"
} >"$OUT"
printf 'dbt settings from %s: DESCOPE_CONFIRM_DELETIONS_SWEEP_ID=%s DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH=%s\n' \
  "$FUNCTION" "${confirm:-(none)}" "${acknowledge:-(none)}"
