"""``load_settings``: environment, flags, defaults and the settings that must stop start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from kallemny_sio.config import SettingsError, load_settings

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default database (and a generated secret) land in a scratch directory."""
    monkeypatch.chdir(tmp_path)


def test_defaults():
    settings = load_settings({})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.database_url == "sqlite:///kallemny.db"
    assert settings.redis_url is None
    assert settings.jwt_expires_minutes == 10080
    assert settings.cors_origins == "*"
    assert settings.production is False
    assert len(settings.jwt_secret.encode()) >= 32


def test_env_is_read():
    settings = load_settings({"HOST": "0.0.0.0", "PORT": "9001", "DATABASE_URL": "sqlite:///other.db",
                              "REDIS_URL": "redis://localhost:6379/0", "JWT_SECRET": SECRET,
                              "JWT_EXPIRES_MINUTES": "15", "CORS_ORIGINS": "https://a.example, https://b.example"})
    assert (settings.host, settings.port, settings.database_url) == ("0.0.0.0", 9001, "sqlite:///other.db")
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.jwt_secret == SECRET and settings.jwt_expires_minutes == 15
    assert tuple(settings.cors_origins) == ("https://a.example", "https://b.example")


def test_flags_override_env():
    env = {"HOST": "0.0.0.0", "PORT": "9001", "DATABASE_URL": "sqlite:///env.db",
           "REDIS_URL": "redis://env:6379", "JWT_SECRET": SECRET}
    settings = load_settings(env, host="127.0.0.2", port=9002, database_url="sqlite:///flag.db", redis_url="redis://flag:6379")
    assert (settings.host, settings.port) == ("127.0.0.2", 9002)
    assert settings.database_url == "sqlite:///flag.db"
    assert settings.redis_url == "redis://flag:6379"


def test_flags_not_given_leave_env_alone():
    settings = load_settings({"PORT": "9001", "HOST": "0.0.0.0"}, host=None, port=None, database_url=None, redis_url=None)
    assert (settings.host, settings.port) == ("0.0.0.0", 9001)


def test_mongodb_uri_is_read_when_database_url_is_unset():
    settings = load_settings({"MONGODB_URI": "mongodb://db.example:27017/chat", "JWT_SECRET": SECRET})
    assert settings.database_url == "mongodb://db.example:27017/chat"
    assert settings.database_kind == "mongodb"


def test_database_url_wins_over_mongodb_uri():
    settings = load_settings({"DATABASE_URL": "sqlite:///here.db", "MONGODB_URI": "mongodb://db.example/chat"})
    assert settings.database_url == "sqlite:///here.db"


def test_database_url_flag_wins_over_mongodb_uri():
    settings = load_settings({"MONGODB_URI": "mongodb://db.example/chat", "JWT_SECRET": SECRET}, database_url="sqlite:///flag.db")
    assert settings.database_url == "sqlite:///flag.db"


def test_mongodb_srv_is_accepted():
    assert load_settings({"DATABASE_URL": "mongodb+srv://cluster.example/chat", "JWT_SECRET": SECRET}).database_kind == "mongodb"


def test_generated_secret_is_kept_beside_the_database_and_reused(tmp_path: Path):
    first = load_settings({"DATABASE_URL": "sqlite:///data.db"})
    kept = tmp_path / "data.db.jwt-secret"
    assert kept.read_text().strip() == first.jwt_secret
    assert kept.stat().st_mode & 0o077 == 0, "the generated secret is readable by others"
    assert load_settings({"DATABASE_URL": "sqlite:///data.db"}).jwt_secret == first.jwt_secret


def test_production_with_secret_and_origins_is_accepted():
    settings = load_settings({"KALLEMNY_ENV": "production", "JWT_SECRET": SECRET, "CORS_ORIGINS": "https://chat.example"})
    assert settings.production is True
    assert tuple(settings.cors_origins) == ("https://chat.example",)


BAD_SETTINGS = [
    ("unknown-database-scheme", {"DATABASE_URL": "postgres://x"}, {}, "DATABASE_URL"),
    ("database-flag-scheme", {}, {"database_url": "mysql://x"}, "DATABASE_URL"),
    ("mongodb-uri-bad-scheme", {"MONGODB_URI": "redis://x"}, {}, "DATABASE_URL"),
    ("sqlite-url-without-path", {"DATABASE_URL": "sqlite:///"}, {}, "DATABASE_URL"),
    ("sqlite-missing-directory", {"DATABASE_URL": "sqlite:///no/such/dir/k.db"}, {}, "DATABASE_URL"),
    ("production-without-secret", {"KALLEMNY_ENV": "production", "CORS_ORIGINS": "https://a.example"}, {}, "JWT_SECRET"),
    ("short-secret", {"JWT_SECRET": "x" * 31}, {}, "JWT_SECRET"),
    ("production-without-origins", {"KALLEMNY_ENV": "production", "JWT_SECRET": SECRET}, {}, "CORS_ORIGINS"),
    ("production-with-star-origins", {"KALLEMNY_ENV": "production", "JWT_SECRET": SECRET, "CORS_ORIGINS": "*"}, {}, "CORS_ORIGINS"),
    ("redis-bad-scheme", {"REDIS_URL": "http://localhost:6379", "JWT_SECRET": SECRET}, {}, "REDIS_URL"),
    ("redis-without-secret", {"REDIS_URL": "redis://localhost:6379"}, {}, "JWT_SECRET"),
    ("mongodb-without-secret", {"DATABASE_URL": "mongodb://localhost/chat"}, {}, "JWT_SECRET"),
    ("port-not-a-number", {"PORT": "http"}, {}, "PORT"),
    ("port-out-of-range", {"PORT": "70000"}, {}, "PORT"),
    ("port-flag-out-of-range", {}, {"port": 70000}, "--port"),
    ("expiry-zero", {"JWT_EXPIRES_MINUTES": "0"}, {}, "JWT_EXPIRES_MINUTES"),
    ("expiry-words", {"JWT_EXPIRES_MINUTES": "a week"}, {}, "JWT_EXPIRES_MINUTES"),
]


@pytest.mark.parametrize("env, flags, setting", [pytest.param(e, f, s, id=i) for i, e, f, s in BAD_SETTINGS])
def test_bad_setting_is_refused_naming_it(env, flags, setting):
    with pytest.raises(SettingsError) as caught:
        load_settings(env, **flags)
    message = str(caught.value)
    assert setting in message, message
    assert "\n" not in message
