"""``load_settings``: trusted issuers and the server API key (contract section 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kallemny_sio.config import SettingsError, load_settings

SECRET = "s" * 40
APP_SECRET = "a" * 32
API_KEY = "k" * 32
ISSUER = "https://app.example"
JWKS_URL = "https://app.example/.well-known/jwks.json"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default database (and a generated secret) land in a scratch directory."""
    monkeypatch.chdir(tmp_path)


def test_defaults_turn_both_off():
    settings = load_settings({})
    assert settings.trusted_jwt_issuer is None
    assert settings.trusted_jwt_secret is None
    assert settings.trusted_jwks_url is None
    assert settings.trusted_jwt_audience is None
    assert settings.api_key is None


def test_trusted_issuer_with_a_secret():
    settings = load_settings({"TRUSTED_JWT_ISSUER": f" {ISSUER} ", "TRUSTED_JWT_SECRET": APP_SECRET,
                              "TRUSTED_JWT_AUDIENCE": "chat"})
    assert settings.trusted_jwt_issuer == ISSUER
    assert settings.trusted_jwt_secret == APP_SECRET
    assert settings.trusted_jwks_url is None
    assert settings.trusted_jwt_audience == "chat"


@pytest.mark.parametrize("url", [JWKS_URL, "http://127.0.0.1:8080/jwks.json"])
def test_trusted_issuer_with_a_jwks_url(url):
    settings = load_settings({"TRUSTED_JWT_ISSUER": ISSUER, "TRUSTED_JWKS_URL": url})
    assert (settings.trusted_jwt_issuer, settings.trusted_jwks_url) == (ISSUER, url)
    assert settings.trusted_jwt_secret is None and settings.trusted_jwt_audience is None


def test_empty_values_count_as_unset():
    settings = load_settings({"TRUSTED_JWT_ISSUER": "", "TRUSTED_JWT_SECRET": "", "TRUSTED_JWKS_URL": "",
                              "TRUSTED_JWT_AUDIENCE": "", "KALLEMNY_API_KEY": ""})
    assert settings.trusted_jwt_issuer is None and settings.api_key is None


def test_api_key_is_read():
    assert load_settings({"KALLEMNY_API_KEY": API_KEY}).api_key == API_KEY


def test_flags_and_tests_can_pass_them_and_are_checked_too():
    settings = load_settings({}, trusted_jwt_issuer=ISSUER, trusted_jwks_url=JWKS_URL, api_key=API_KEY)
    assert (settings.trusted_jwt_issuer, settings.trusted_jwks_url, settings.api_key) == (ISSUER, JWKS_URL, API_KEY)
    with pytest.raises(SettingsError, match="KALLEMNY_API_KEY"):
        load_settings({}, api_key="short")


BAD_SETTINGS = [
    ("issuer-without-key-source", {"TRUSTED_JWT_ISSUER": ISSUER}, "TRUSTED_JWT_ISSUER"),
    ("issuer-with-both-key-sources", {"TRUSTED_JWT_ISSUER": ISSUER, "TRUSTED_JWT_SECRET": APP_SECRET,
                                      "TRUSTED_JWKS_URL": JWKS_URL}, "TRUSTED_JWT_ISSUER"),
    ("secret-without-issuer", {"TRUSTED_JWT_SECRET": APP_SECRET}, "TRUSTED_JWT_ISSUER"),
    ("jwks-url-without-issuer", {"TRUSTED_JWKS_URL": JWKS_URL}, "TRUSTED_JWT_ISSUER"),
    ("audience-without-issuer", {"TRUSTED_JWT_AUDIENCE": "chat"}, "TRUSTED_JWT_ISSUER"),
    ("issuer-is-kallemny-itself", {"TRUSTED_JWT_ISSUER": "kallemny", "TRUSTED_JWT_SECRET": APP_SECRET},
     "TRUSTED_JWT_ISSUER"),
    ("short-trusted-secret", {"TRUSTED_JWT_ISSUER": ISSUER, "TRUSTED_JWT_SECRET": "a" * 31}, "TRUSTED_JWT_SECRET"),
    ("short-trusted-secret-in-bytes", {"TRUSTED_JWT_ISSUER": ISSUER, "TRUSTED_JWT_SECRET": "é" * 15},
     "TRUSTED_JWT_SECRET"),
    ("jwks-url-ftp", {"TRUSTED_JWT_ISSUER": ISSUER, "TRUSTED_JWKS_URL": "ftp://app.example/jwks"}, "TRUSTED_JWKS_URL"),
    ("jwks-url-file", {"TRUSTED_JWT_ISSUER": ISSUER, "TRUSTED_JWKS_URL": "file:///etc/jwks.json"}, "TRUSTED_JWKS_URL"),
    ("jwks-url-no-host", {"TRUSTED_JWT_ISSUER": ISSUER, "TRUSTED_JWKS_URL": "https:///jwks.json"}, "TRUSTED_JWKS_URL"),
    ("jwks-url-a-path", {"TRUSTED_JWT_ISSUER": ISSUER, "TRUSTED_JWKS_URL": "/jwks.json"}, "TRUSTED_JWKS_URL"),
    ("short-api-key", {"KALLEMNY_API_KEY": "k" * 31}, "KALLEMNY_API_KEY"),
    ("api-key-with-spaces", {"KALLEMNY_API_KEY": "k" * 20 + " " + "k" * 20}, "KALLEMNY_API_KEY"),
    ("api-key-not-ascii", {"KALLEMNY_API_KEY": "ключ" * 10}, "KALLEMNY_API_KEY"),
]


@pytest.mark.parametrize("env, setting", [pytest.param(e, s, id=i) for i, e, s in BAD_SETTINGS])
def test_bad_setting_is_refused_naming_it(env, setting):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert setting in message, message
    assert "\n" not in message
    assert APP_SECRET not in message, "a refused setting's message never shows a secret"


def test_command_line_refuses_a_short_api_key_in_one_line(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "kallemny_sio", "--port", "0"],
        env={"PATH": "/usr/bin:/bin", "KALLEMNY_API_KEY": "short", "JWT_SECRET": SECRET,
             "DATABASE_URL": f"sqlite:///{tmp_path}/k.db"},
        capture_output=True, text=True, timeout=30, cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "KALLEMNY_API_KEY" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
