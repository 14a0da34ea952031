"""Settings read from the environment, checked in fresh processes (settings load once per process)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHOW_SETTINGS = (
    "import django, json; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(json.dumps({'engine': db['ENGINE'], 'name': str(db['NAME']), 'debug': settings.DEBUG}))"
)


def _django(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QUORUM_", "DATABASE_", "CELERY_", "DJANGO_"))
    }
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS],
        cwd=REPO,
        env=base
        | {"DJANGO_SETTINGS_MODULE": "config.settings", "QUORUM_VAR_DIR": str(tmp_path / "var")}
        | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_without_a_secret_key_refuses_to_start(tmp_path):
    result = _django(tmp_path, DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_debug_off_with_a_secret_key_starts_without_the_dev_warning(tmp_path):
    result = _django(tmp_path, DJANGO_DEBUG="false", DJANGO_SECRET_KEY="k" * 60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False
    assert "DEVELOPMENT secret key" not in result.stderr


def test_the_development_key_warns_loudly(tmp_path):
    result = _django(tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is True
    assert "DEVELOPMENT secret key" in result.stderr


def test_database_defaults_to_sqlite_under_the_var_folder(tmp_path):
    result = _django(tmp_path)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["name"] == str(tmp_path / "var" / "quorum.sqlite3")
    assert (tmp_path / "var").is_dir()


def test_database_url_selects_postgresql(tmp_path):
    result = _django(tmp_path, DATABASE_URL="postgres://quorum@db.internal:5432/registry")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["engine"], shown["name"]) == ("django.db.backends.postgresql", "registry")
    assert not (tmp_path / "var").exists()  # nothing written for a database that lives elsewhere
