"""The project ID and management key: stripped, checked, scrubbed, and named (never shown) when wrong."""

from __future__ import annotations

import pytest

from descope_sync.config import load_settings
from descope_sync.secrets import scrub
from tests.extract.test_config import KEY, config_error, env


@pytest.mark.parametrize("raw", [KEY + "\n", KEY + "\r\n", "  " + KEY + "\t\n", "\n" + KEY])
def test_surrounding_whitespace_is_stripped_from_the_key_in_the_environment(raw):
    settings = load_settings({}, env=env(DESCOPE_MANAGEMENT_KEY=raw))
    assert settings.management_key.reveal() == KEY


def test_surrounding_whitespace_is_stripped_from_a_key_override():
    settings = load_settings({"management_key": KEY + "\n", "project_id": " P123\n"}, env={})
    assert settings.management_key.reveal() == KEY
    assert settings.project_id == "P123"


def test_both_the_raw_and_the_stripped_key_are_scrubbed():
    raw = "K2raw-form-of-the-key-7777\n"
    load_settings({}, env=env(DESCOPE_MANAGEMENT_KEY=raw))
    # what requests' InvalidHeader prints: the repr of a header value with the raw key inside
    leaked = f"in header value: {'Bearer P123:' + raw!r} and again {raw.strip()}"
    assert "K2raw-form-of-the-key-7777" not in scrub(leaked)


@pytest.mark.parametrize("inside", ["\n", " ", "\t", "\x00", "\x7f", "\u2019"])
def test_a_key_with_whitespace_or_a_control_character_inside_names_the_variable_not_the_value(inside):
    key = "K2first-half" + inside + "second-half"
    message = config_error(env(DESCOPE_MANAGEMENT_KEY=key))
    assert "DESCOPE_MANAGEMENT_KEY" in message
    assert "printf '%s'" in message
    assert "K2first-half" not in message and "second-half" not in message
    assert "K2first-half" not in scrub(f"leak: {key!r} {key}")


def test_a_key_of_only_whitespace_is_an_error_naming_the_variable():
    message = config_error(env(DESCOPE_MANAGEMENT_KEY=" \n"))
    assert "DESCOPE_MANAGEMENT_KEY" in message and "empty" in message


@pytest.mark.parametrize("project_id", ["P12\n3", "P1 23", "P1\x0023"])
def test_a_project_id_with_a_control_character_inside_is_an_error_naming_the_variable(project_id):
    message = config_error(env(DESCOPE_PROJECT_ID=project_id))
    assert "DESCOPE_PROJECT_ID" in message
    assert KEY not in message


def test_a_project_id_flag_with_a_newline_inside_names_the_flag():
    message = config_error(env(), {"project_id": "P1\n23"})
    assert "--project-id" in message


def test_surrounding_whitespace_is_stripped_from_the_project_id():
    assert load_settings({}, env=env(DESCOPE_PROJECT_ID="P123\n")).project_id == "P123"


# Secret Manager: tests/gcp/test_secret_manager.py (the real client against a local REST server).


# Secret Manager: tests/gcp/test_secret_manager.py (the real client against a local REST server).
