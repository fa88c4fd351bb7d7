#!/usr/bin/env bash
# One-time (and safe to re-run) setup of descope-sync in a Google Cloud project, then its first deploy.
#
#   GCP_PROJECT=my-project ./deploy/setup.sh
#
# Optional environment:
#   REGION (us-central1)           function, scheduler, Cloud Build triggers, GeoIP bucket
#   BQ_LOCATION (US)               the BigQuery datasets' location (fixed once a dataset exists)
#   DESCOPE_PROJECT_ID,            values for the secrets descope-project-id / descope-management-key;
#   DESCOPE_MANAGEMENT_KEY         asked for (hidden) when a secret has no version yet and these are unset;
#                                  a value that differs from the latest version adds a new version
#   GEOIP_FILE                     a GeoLite2-City.mmdb / GeoIP2-City.mmdb to upload (a new generation)
#   CLOUDBUILD_REPOSITORY          a Cloud Build (2nd gen) repository, projects/P/locations/R/connections/C/repositories/N,
#                                  connected once in the console; without it the triggers are not created
#   BRANCH (main)                  the branch the release trigger builds
#   SKIP_DEPLOY=1                  stop before the first deploy
#   STRIP_LEGACY_CLOUDBUILD_ROLES=1  remove every project role of the legacy Cloud Build account
#                                  (<number>@cloudbuild.gserviceaccount.com); without it setup stops
#                                  while that account holds any
#
# Everything is created only when missing and every grant is idempotent. Least privilege: no account
# gets Owner or Editor; BigQuery data roles are granted on the datasets, secret access on the two
# secrets, bucket access on the buckets, Cloud Functions access on the one function. The function
# starts dbt with a custom role holding only cloudbuild.builds.create (Cloud Build has no IAM policy
# per trigger, so it is granted on the project); the build accounts read builds with a custom role
# holding only cloudbuild.builds.get and .list (listing builds exists only on the project).
# The first deploy releases the checkout's commit (it must be clean and pushed: the dbt builds the
# function starts check that commit out of the repository).
set -euo pipefail

: "${GCP_PROJECT:?set GCP_PROJECT to the Google Cloud project ID}"
PROJECT=$GCP_PROJECT
REGION=${REGION:-us-central1}
BQ_LOCATION=${BQ_LOCATION:-US}
BRANCH=${BRANCH:-main}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

FUNCTION=descope-bigquery-sync
SCHEDULER_JOB=descope-sync-daily
DBT_TRIGGER=descope-dbt
DEPLOY_TRIGGER=descope-sync-deploy
RAW_DATASET=descope_raw
STAGING_DATASET=descope_staging
MARTS_DATASET=descope_data_v2
SECRETS=(descope-project-id descope-management-key)
GEOIP_BUCKET=${PROJECT}-descope-geoip

FN_SA=descope-sync-fn@${PROJECT}.iam.gserviceaccount.com             # runs the function
INVOKER_SA=descope-sync-invoker@${PROJECT}.iam.gserviceaccount.com   # Cloud Scheduler's identity (OIDC)
DBT_SA=descope-sync-dbt@${PROJECT}.iam.gserviceaccount.com           # the dbt-only builds
DEPLOY_SA=descope-sync-deployer@${PROJECT}.iam.gserviceaccount.com   # the release build (cloudbuild.yaml)
BUILD_STARTER_ROLE=descopeSyncBuildStarter  # cloudbuild.builds.create only: the function starts dbt
BUILD_READER_ROLE=descopeSyncBuildReader    # cloudbuild.builds.get/.list: the builds wait for older ones

say() { printf '\n== %s\n' "$*"; }
g() { gcloud --project="$PROJECT" --quiet "$@"; }

project_role() { # member role
  g projects add-iam-policy-binding "$PROJECT" --member="$1" --role="$2" --condition=None >/dev/null
}
dataset_role() { # member role dataset  (BigQuery DCL: idempotent, scoped to one dataset)
  bq --quiet --project_id="$PROJECT" --location="$BQ_LOCATION" query --nouse_legacy_sql \
    "GRANT \`$2\` ON SCHEMA \`$PROJECT.$3\` TO \"$1\"" >/dev/null
}
sa_role() { # member role service-account-email  (e.g. actAs on one account only)
  g iam service-accounts add-iam-policy-binding "$3" --member="$1" --role="$2" >/dev/null
}

custom_role() { # id title permissions  (created, or its permissions set to exactly these)
  if g iam roles describe "$1" --project="$PROJECT" >/dev/null 2>&1; then
    g iam roles update "$1" --project="$PROJECT" --permissions="$3" >/dev/null
  else
    g iam roles create "$1" --project="$PROJECT" --title="$2" --permissions="$3" --stage=GA >/dev/null
  fi
}

say "the legacy Cloud Build account"
# Any build may run as <number>@cloudbuild.gserviceaccount.com unless told otherwise; its project roles
# would be a way around every grant below.
NUMBER=$(g projects describe "$PROJECT" --format='value(projectNumber)')
test -n "$NUMBER"
LEGACY_SA=${NUMBER}@cloudbuild.gserviceaccount.com
legacy_roles=$(g projects get-iam-policy "$PROJECT" --flatten='bindings[].members' \
  --filter="bindings.members:serviceAccount:$LEGACY_SA" --format='value(bindings.role)')
if [[ -n "$legacy_roles" ]]; then
  mapfile -t legacy <<<"$legacy_roles"
  printf 'the legacy Cloud Build account %s holds these project roles:\n' "$LEGACY_SA" >&2
  printf '  %s\n' "${legacy[@]}" >&2
  if [[ "${STRIP_LEGACY_CLOUDBUILD_ROLES:-}" != 1 ]]; then
    printf 'stopping: remove them, or run again with STRIP_LEGACY_CLOUDBUILD_ROLES=1 to have setup remove exactly these\n' >&2
    exit 1
  fi
  printf 'STRIP_LEGACY_CLOUDBUILD_ROLES=1: removing each of them from %s now\n' "$LEGACY_SA" >&2
  for role in "${legacy[@]}"; do
    g projects remove-iam-policy-binding "$PROJECT" --member="serviceAccount:$LEGACY_SA" --role="$role" \
      --all >/dev/null
  done
fi

if [[ "${SKIP_DEPLOY:-}" != 1 ]]; then
  # the first deploy releases this commit: exactly what was tested, and reachable by the dbt trigger
  if [[ -n "$(git -C "$ROOT" status --porcelain)" ]]; then
    printf 'the checkout %s has uncommitted changes: commit and push them (the release records its commit), or SKIP_DEPLOY=1\n' \
      "$ROOT" >&2
    exit 1
  fi
  RELEASE_COMMIT=$(git -C "$ROOT" rev-parse HEAD)
fi

say "APIs"
g services enable cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com \
  artifactregistry.googleapis.com cloudscheduler.googleapis.com secretmanager.googleapis.com \
  bigquery.googleapis.com storage.googleapis.com iam.googleapis.com logging.googleapis.com

say "service accounts"
for spec in "descope-sync-fn:descope-sync function (extract to descope_raw)" \
  "descope-sync-invoker:Cloud Scheduler calls descope-bigquery-sync" \
  "descope-sync-dbt:dbt builds the descope marts" \
  "descope-sync-deployer:descope-sync release build (test, deploy, schedule, dbt)"; do
  name=${spec%%:*}
  if ! g iam service-accounts describe "$name@$PROJECT.iam.gserviceaccount.com" >/dev/null 2>&1; then
    g iam service-accounts create "$name" --display-name="${spec#*:}"
  fi
done

say "BigQuery datasets ($BQ_LOCATION)"
for dataset in "$RAW_DATASET" "$STAGING_DATASET" "$MARTS_DATASET"; do
  if ! bq --project_id="$PROJECT" show --dataset "$PROJECT:$dataset" >/dev/null 2>&1; then
    bq --project_id="$PROJECT" --location="$BQ_LOCATION" mk --dataset "$PROJECT:$dataset"
  fi
done

say "secrets"
for secret in "${SECRETS[@]}"; do
  if ! g secrets describe "$secret" >/dev/null 2>&1; then
    g secrets create "$secret" --replication-policy=automatic
  fi
  case $secret in
    descope-project-id) value=${DESCOPE_PROJECT_ID:-} ;;
    descope-management-key) value=${DESCOPE_MANAGEMENT_KEY:-} ;;
  esac
  has_version=$(g secrets versions list "$secret" --filter=state=ENABLED --limit=1 --format='value(name)')
  if [[ -z "$value" && -z "$has_version" ]]; then
    if [[ -t 0 ]]; then
      read -rsp "value for the secret $secret (not shown): " value
      printf '\n'
    else
      printf 'the secret %s has no version: set DESCOPE_PROJECT_ID / DESCOPE_MANAGEMENT_KEY and run again\n' \
        "$secret" >&2
      exit 1
    fi
  fi
  if [[ -n "$value" ]]; then
    current=""
    if [[ -n "$has_version" ]]; then
      current=$(g secrets versions access latest --secret="$secret")
    fi
    if [[ "$value" != "$current" ]]; then
      # printf '%s', never echo: no trailing newline in the stored value
      printf '%s' "$value" | g secrets versions add "$secret" --data-file=-
    fi
  fi
  unset value current
  # the function's account reads these two secrets, nothing else in Secret Manager
  g secrets add-iam-policy-binding "$secret" --member="serviceAccount:$FN_SA" \
    --role=roles/secretmanager.secretAccessor >/dev/null
done

say "GeoIP bucket gs://$GEOIP_BUCKET"
if ! g storage buckets describe "gs://$GEOIP_BUCKET" >/dev/null 2>&1; then
  g storage buckets create "gs://$GEOIP_BUCKET" --location="$REGION" --uniform-bucket-level-access
fi
g storage buckets add-iam-policy-binding "gs://$GEOIP_BUCKET" --member="serviceAccount:$FN_SA" \
  --role=roles/storage.objectViewer >/dev/null
if [[ -n "${GEOIP_FILE:-}" ]]; then
  g storage cp "$GEOIP_FILE" "gs://$GEOIP_BUCKET/GeoLite2-City.mmdb"
elif ! g storage objects describe "gs://$GEOIP_BUCKET/GeoLite2-City.mmdb" >/dev/null 2>&1; then
  printf 'WARNING: no gs://%s/GeoLite2-City.mmdb yet: ip_locations fails until you upload one (GEOIP_FILE=...)\n' \
    "$GEOIP_BUCKET" >&2
fi

say "IAM: the function's account"
dataset_role "serviceAccount:$FN_SA" roles/bigquery.dataEditor "$RAW_DATASET"
project_role "serviceAccount:$FN_SA" roles/bigquery.jobUser
custom_role "$BUILD_STARTER_ROLE" "descope-sync: start the dbt build" cloudbuild.builds.create
custom_role "$BUILD_READER_ROLE" "descope-sync: see older builds" cloudbuild.builds.get,cloudbuild.builds.list
project_role "serviceAccount:$FN_SA" "projects/$PROJECT/roles/$BUILD_STARTER_ROLE"  # start the dbt trigger
sa_role "serviceAccount:$FN_SA" roles/iam.serviceAccountUser "$DBT_SA"  # ... which runs as descope-sync-dbt

say "IAM: the dbt builds' account"
dataset_role "serviceAccount:$DBT_SA" roles/bigquery.dataViewer "$RAW_DATASET"
dataset_role "serviceAccount:$DBT_SA" roles/bigquery.dataEditor "$STAGING_DATASET"
dataset_role "serviceAccount:$DBT_SA" roles/bigquery.dataEditor "$MARTS_DATASET"
for role in roles/bigquery.jobUser roles/logging.logWriter "projects/$PROJECT/roles/$BUILD_READER_ROLE"; do
  project_role "serviceAccount:$DBT_SA" "$role"
done
# ... and reads the one function's settings (granted on the function once it exists, after the deploy)

say "IAM: the release build's account"
dataset_role "serviceAccount:$DEPLOY_SA" roles/bigquery.dataViewer "$RAW_DATASET"
dataset_role "serviceAccount:$DEPLOY_SA" roles/bigquery.dataEditor "$STAGING_DATASET"
dataset_role "serviceAccount:$DEPLOY_SA" roles/bigquery.dataEditor "$MARTS_DATASET"
for role in roles/bigquery.jobUser roles/logging.logWriter "projects/$PROJECT/roles/$BUILD_READER_ROLE" \
  roles/cloudfunctions.developer roles/cloudscheduler.admin; do
  project_role "serviceAccount:$DEPLOY_SA" "$role"
done
# It builds the function's image (--build-service-account): reads the uploaded source, writes the image.
# It writes no bucket; it reads two: the function's sources and `gcloud builds submit` uploads.
for bucket in "gcf-v2-sources-$NUMBER-$REGION" "${PROJECT}_cloudbuild"; do
  if ! g storage buckets describe "gs://$bucket" >/dev/null 2>&1; then
    g storage buckets create "gs://$bucket" --location="$REGION" --uniform-bucket-level-access
  fi
  g storage buckets add-iam-policy-binding "gs://$bucket" --member="serviceAccount:$DEPLOY_SA" \
    --role=roles/storage.objectViewer >/dev/null
done
if ! g artifacts repositories describe gcf-artifacts --location="$REGION" >/dev/null 2>&1; then
  g artifacts repositories create gcf-artifacts --location="$REGION" --repository-format=docker \
    --description="Cloud Functions images (descope-sync)"
fi
g artifacts repositories add-iam-policy-binding gcf-artifacts --location="$REGION" \
  --member="serviceAccount:$DEPLOY_SA" --role=roles/artifactregistry.writer >/dev/null
sa_role "serviceAccount:$DEPLOY_SA" roles/iam.serviceAccountUser "$FN_SA"       # deploy the function as it
sa_role "serviceAccount:$DEPLOY_SA" roles/iam.serviceAccountUser "$INVOKER_SA"  # the scheduler job's OIDC identity
sa_role "serviceAccount:$DEPLOY_SA" roles/iam.serviceAccountUser "$DEPLOY_SA"   # builds the function's image as itself

say "Cloud Build triggers ($REGION)"
if [[ -n "${CLOUDBUILD_REPOSITORY:-}" ]]; then
  if ! g builds triggers describe "$DBT_TRIGGER" --region="$REGION" >/dev/null 2>&1; then
    # --branch is only the default source: the function runs it at the released commit (source.commitSha)
    g builds triggers create manual --name="$DBT_TRIGGER" --region="$REGION" \
      --repository="$CLOUDBUILD_REPOSITORY" --branch="$BRANCH" --build-config=deploy/cloudbuild-dbt.yaml \
      --service-account="projects/$PROJECT/serviceAccounts/$DBT_SA" \
      --description="dbt build of the descope marts; started by $FUNCTION after every extract"
  fi
  if ! g builds triggers describe "$DEPLOY_TRIGGER" --region="$REGION" >/dev/null 2>&1; then
    g builds triggers create github --name="$DEPLOY_TRIGGER" --region="$REGION" \
      --repository="$CLOUDBUILD_REPOSITORY" --branch-pattern="^$BRANCH\$" --build-config=cloudbuild.yaml \
      --service-account="projects/$PROJECT/serviceAccounts/$DEPLOY_SA" \
      --description="descope-sync release: test, deploy, schedule, dbt"
  fi
else
  printf 'WARNING: CLOUDBUILD_REPOSITORY is not set: the triggers %s and %s are not created.\n' \
    "$DBT_TRIGGER" "$DEPLOY_TRIGGER" >&2
  printf '  Connect the repository once (console: Cloud Build > Repositories, 2nd gen) and run this again;\n' >&2
  printf '  until then the function answers 500 after each extract (no dbt trigger to start).\n' >&2
fi

if [[ "${SKIP_DEPLOY:-}" == 1 ]]; then
  say "done (SKIP_DEPLOY=1: no deploy)"
  exit 0
fi

say "first deploy of $RELEASE_COMMIT (cloudbuild.yaml: test, deploy, schedule, dbt)"
(cd "$ROOT" && g builds submit --region="$REGION" --config=cloudbuild.yaml \
  --service-account="projects/$PROJECT/serviceAccounts/$DEPLOY_SA" \
  --substitutions="_REGION=$REGION,_BQ_LOCATION=$BQ_LOCATION,_RELEASE_COMMIT=$RELEASE_COMMIT" .)

say "IAM: on the function"
# only the scheduler's account may invoke it
g functions add-invoker-policy-binding "$FUNCTION" --region="$REGION" --member="serviceAccount:$INVOKER_SA" >/dev/null
# the dbt builds read its settings (deploy/dbt-prepare.sh): this function's, no other's
g functions add-iam-policy-binding "$FUNCTION" --region="$REGION" --member="serviceAccount:$DBT_SA" \
  --role=roles/cloudfunctions.viewer >/dev/null

say "done"
printf 'function:  %s (region %s), scheduled daily 02:00 UTC by %s\n' "$FUNCTION" "$REGION" "$SCHEDULER_JOB"
printf 'run it now: gcloud scheduler jobs run %s --location=%s\n' "$SCHEDULER_JOB" "$REGION"
