"""The Descope base URL: https, or plain http to a loopback host only."""

from __future__ import annotations

import pytest

from descope_sync.config import load_settings
from tests.extract.test_config import config_error, env


@pytest.mark.parametrize(
    "url",
    [
        "https://api.descope.com",
        "https://api.euc1.descope.com/",
        "http://127.0.0.1:8765",
        "http://127.9.9.9",
        "http://localhost:1234",
        "HTTP://LOCALHOST",
        "http://[::1]:9000",
    ],
)
def test_https_or_plain_http_to_loopback_is_accepted(url):
    assert load_settings({}, env=env(DESCOPE_BASE_URL=url)).base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.descope.com",
        "http://10.0.0.1:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://[::2]",
        "ftp://api.descope.com",
        "api.descope.com",
        "https://",
        "https:///v1",
        "https://user:pw@api.descope.com",
        "https://api.descope.com/?x=1",
        "https://api.descope.com:notaport",
        "https://api.desc ope.com",
    ],
)
def test_any_other_base_url_is_a_config_error_naming_the_variable(url):
    message = config_error(env(DESCOPE_BASE_URL=url))
    assert "DESCOPE_BASE_URL" in message and "https://" in message


def test_a_base_url_flag_is_named_as_the_flag():
    assert "--base-url" in config_error(env(), {"base_url": "http://api.descope.com"})
