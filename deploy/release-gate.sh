#!/usr/bin/env bash
# The step of the release build (cloudbuild.yaml) between `make test` and the deploy: releases deploy
# one at a time and the newest wins, so an older release never deploys after a newer one.
#  1. RELEASE_COMMIT must be a full commit SHA: the function records it (DESCOPE_RELEASE_COMMIT) and
#     every dbt build it starts checks out exactly that commit.
#  2. A newer release build (tag descope-release) that has not failed supersedes this one: this build
#     stops here, before deploying anything.
#  3. An older release build that is already past this step (deploying, scheduling or building dbt)
#     is waited for, so this release's deploy and dbt build come after it, never interleaved.
# Nothing is held while tests run: this step comes after `make test`, and a release still testing
# neither waits nor is waited for.
# Needs: PROJECT_ID, BUILD_ID, REGION, RELEASE_COMMIT; cloudbuild.builds.get and .list (setup.sh's
# custom role descopeSyncBuildReader).
set -euo pipefail
: "${PROJECT_ID:?}" "${BUILD_ID:?}" "${REGION:?}"
RELEASE_COMMIT=${RELEASE_COMMIT:-}
WAIT_SECONDS=${WAIT_SECONDS:-3000}
POLL_SECONDS=${POLL_SECONDS:-20}
GATE_STEP=release-gate
# Terminal states in which a newer release will never deploy.
NOT_DEPLOYING='status!="FAILURE" AND status!="CANCELLED" AND status!="TIMEOUT" AND status!="INTERNAL_ERROR" AND status!="EXPIRED"'

if [[ ! "$RELEASE_COMMIT" =~ ^[0-9a-f]{40}$ ]]; then
  printf 'no release commit (_RELEASE_COMMIT is %s): a release records the full commit SHA it tested; ' \
    "'${RELEASE_COMMIT}'" >&2
  printf 'run it from its trigger, or by deploy/setup.sh, which passes the checkout'"'"'s commit\n' >&2
  exit 1
fi

b() { gcloud builds "$@" --project="$PROJECT_ID" --region="$REGION"; }

created=$(b describe "$BUILD_ID" --format='value(createTime)')
test -n "$created"

superseded() {
  local newer
  newer=$(b list --filter="tags:descope-release AND createTime>\"$created\" AND $NOT_DEPLOYING" --format='value(id)')
  if [[ -n "$newer" ]]; then
    printf 'release %s (build %s) is superseded by the newer release build(s) %s: not deploying\n' \
      "$RELEASE_COMMIT" "$BUILD_ID" "$(echo "$newer" | tr '\n' ' ')" >&2
    exit 1
  fi
}

# The older release builds still running whose release-gate step succeeded: they are deploying.
deploying() {
  local id status
  for id in $(b list --ongoing --filter="tags:descope-release AND createTime<\"$created\" AND id!=$BUILD_ID" \
    --format='value(id)'); do
    status=$(b describe "$id" --format=json | python3 -c '
import json, sys
steps = json.load(sys.stdin).get("steps", [])
print(" ".join(s.get("status", "") for s in steps if s.get("id") == sys.argv[1]))' "$GATE_STEP")
    if [[ "$status" == SUCCESS ]]; then
      printf '%s ' "$id"
    fi
  done
}

deadline=$((SECONDS + WAIT_SECONDS))
while :; do
  superseded
  older=$(deploying)
  if [[ -z "$older" ]]; then
    break
  fi
  if ((SECONDS > deadline)); then
    printf 'the older release build(s) %sare still deploying after %ss; giving up (push again to retry)\n' \
      "$older" "$WAIT_SECONDS" >&2
    exit 1
  fi
  printf 'waiting for the older release build(s) still deploying: %s\n' "$older"
  sleep "$POLL_SECONDS"
done
printf 'release %s (build %s): the newest release, deploying\n' "$RELEASE_COMMIT" "$BUILD_ID"
