"""The command's exit codes, and the help text that lists them."""

from __future__ import annotations

from descope_sync.contract import RunStatus, worst_status

# Exit codes (README lists them): the worst status of a run decides, failed > data_loss > incomplete > partial.
EXIT_OK = 0  # success: every stream (and dbt) succeeded
EXIT_FAILED = 1  # a stream or dbt failed, or any error (one line says why)
EXIT_USAGE = 2  # bad command line (argparse)
EXIT_PARTIAL = 3  # stopped by the time budget; progress committed, the next run resumes
EXIT_DATA_LOSS = 4  # audit events older than the retention can never be read
EXIT_INCOMPLETE = 5  # finished but not proved complete (e.g. the source reported far fewer users)
EXIT_STALE = 6  # `status`: a stream's last success is older than --max-age-seconds (or it never succeeded)
# `status` only, beside 4 and 6 (descope_sync.status.checks.EXIT_CODES decides): 7 a stream's last run failed,
# 8 users deletions not applied (sweep held, unproved or too old), 9 a row stamped in the future.
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM exits 143: 128 + the signal's number
EXIT_CODES: dict[RunStatus, int] = {
    RunStatus.SUCCESS: EXIT_OK,
    RunStatus.PARTIAL: EXIT_PARTIAL,
    RunStatus.INCOMPLETE: EXIT_INCOMPLETE,
    RunStatus.DATA_LOSS: EXIT_DATA_LOSS,
    RunStatus.FAILED: EXIT_FAILED,
}


def exit_code(*statuses: str) -> int:
    """The exit code of the worst of `statuses`."""
    return EXIT_CODES[worst_status(statuses)]


EPILOG = """exit codes (the worst status of the run wins: failed > data_loss > incomplete > partial):
  0  success
  1  failed: a stream or dbt failed, or any error (one line says why)
  2  usage: a bad command line
  3  partial: stopped by the time budget; progress is committed and the next run resumes
  4  data_loss: audit events older than Descope's retention can never be read
  5  incomplete: finished but not proved complete; no user deletion is inferred from it
  130  interrupted by Ctrl-C (143: SIGTERM); committed progress is kept, the next run resumes from it
`run` still builds dbt after a partial, incomplete or data_loss extract, not after a failed one.
`status` exits 0 when healthy, else 4, 7, 8, 5, 9 or 6 (see `descope-sync status --help`)."""

STATUS_EPILOG = """exit codes (one stream's problem is enough; the worst kind found wins, in this order):
  4  data_loss: audit events were lost for good and nobody acknowledged it
     (DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH='<finished_at of the loss>' once known)
  7  failed: a stream's last run failed (its error is shown)
  8  deletions not applied: the last users sweep was held back by the deletion valve or did not prove its
     count, or no sweep was accepted within --reconcile-days plus --max-age-seconds
  5  incomplete: a stream's last run finished without proving what it read
  9  clock skew: a _sync_runs row is stamped more than 5 minutes in the future
  6  stale: a stream's last success is older than --max-age-seconds, or it never succeeded
  0  healthy: none of the above
  1  the warehouse could not be read (one line says why)
Every problem is one line under "problem:" (and in "problems" with --json, per stream and overall).
Reads only the warehouse, read-only: no Descope credentials needed."""
