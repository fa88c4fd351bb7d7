"""A registered secret never reaches stderr: not through our handler, a handler added later, or an uncaught error."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from descope_sync.logs import JsonFormatter
from descope_sync.secrets import Secret, register_secret, scrub

EXTRACT = Path(__file__).resolve().parents[2] / "extract"
SECRET = "K2never-print-me-4242"


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env["PYTHONPATH"] = str(EXTRACT)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True, text=True, timeout=60
    )


LOG_EVERYWHERE = """
    import logging, sys
    from descope_sync.logs import configure_logging
    from descope_sync.secrets import register_secret

    SECRET = sys.argv[1]
    configure_logging(json_lines=sys.argv[2] == "json")
    register_secret(SECRET)
    # handlers configured after ours, as functions-framework, gunicorn and werkzeug do
    import functions_framework
    functions_framework.setup_logging()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(logging.StreamHandler(sys.stderr))
    gunicorn = logging.getLogger("gunicorn.error")
    gunicorn.addHandler(logging.StreamHandler(sys.stdout))
    gunicorn.propagate = False

    def fail():
        raise RuntimeError(f"Invalid header value: {'Bearer P1:' + SECRET + chr(10)!r}")

    for logger in (logging.getLogger(), werkzeug, gunicorn):
        try:
            fail()
        except RuntimeError:
            logger.exception("marker-%s request failed with key %s", logger.name, SECRET)
        logger.error("marker-args %s", {"key": SECRET})
        logger.warning("marker-stack " + SECRET, stack_info=True)
    print("done")
"""


def _assert_never_shown(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout
    assert SECRET not in output
    for logger in ("root", "werkzeug", "gunicorn.error"):
        assert f"marker-{logger} request failed with key ***" in output
    assert output.count("RuntimeError") >= 6  # each traceback reached stderr, scrubbed rather than dropped
    assert "marker-args {'key': '***'}" in output


def test_exceptions_logged_through_root_werkzeug_and_later_handlers_never_show_the_secret_json():
    _assert_never_shown(run_python(LOG_EVERYWHERE, SECRET, "json"))


def test_exceptions_logged_through_root_werkzeug_and_later_handlers_never_show_the_secret_terminal():
    _assert_never_shown(run_python(LOG_EVERYWHERE, SECRET, "terminal"))


def test_an_uncaught_exception_in_the_cli_process_prints_a_scrubbed_traceback():
    result = run_python(
        f"""
        import threading
        from descope_sync.logs import install_excepthooks
        from descope_sync.secrets import register_secret

        install_excepthooks()
        register_secret({SECRET!r})

        def worker():
            raise ValueError("thread saw {SECRET}")

        t = threading.Thread(target=worker, name="worker-1")
        t.start()
        t.join()
        raise RuntimeError("main saw {SECRET}")
        """
    )
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: main saw ***" in result.stderr
    assert "Exception in thread worker-1" in result.stderr and "ValueError: thread saw ***" in result.stderr


def test_the_forms_an_exception_or_a_json_line_print_are_scrubbed_too():
    raw = 'K2with"quote\\and-newline\n'
    register_secret(raw)
    assert "K2with" not in scrub(repr(f"Bearer P1:{raw}"))
    assert "K2with" not in scrub(json.dumps({"header": raw}))
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "header %s", (raw,), None)
    line = JsonFormatter().format(record)
    assert "K2with" not in line
    assert json.loads(line)["message"] == "header ***"


def test_a_secret_object_never_shows_itself():
    secret = Secret(SECRET)
    assert SECRET not in repr(secret) + str(secret) + f"{secret}" + f"{secret!r}"
    assert secret.reveal() == SECRET
