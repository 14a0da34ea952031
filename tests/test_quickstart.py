"""`manage.py quickstart` as a person runs it: a fresh process on the embedded default in an empty folder."""

import base64
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

REPO = Path(__file__).resolve().parent.parent
PASSWORD_LINE = re.compile(r"Created superuser '(?P<user>[^']+)' with one-time password: (?P<password>\S+)")


def _embedded_env(var_dir: Path) -> dict[str, str]:
    """The caller's environment minus anything that points Quorum elsewhere (CI sets a PostgreSQL URL)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("QUORUM_", "DATABASE_", "CELERY_", "DJANGO_"))
    }
    return env | {"QUORUM_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"}


def _quickstart(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", "quickstart", "--no-serve", *args],
        cwd=REPO,
        env=_embedded_env(var_dir),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _rows(var_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(var_dir / "quorum.sqlite3") as db:
        return db.execute(sql).fetchall()


def test_quickstart_sets_up_admin_and_demo_and_a_second_run_changes_nothing(tmp_path):
    first = _quickstart(tmp_path)

    assert (tmp_path / "quorum.sqlite3").is_file()
    match = PASSWORD_LINE.search(first.stdout)
    assert match, first.stdout
    assert match["user"] == "admin"
    [(encoded, is_superuser)] = _rows(
        tmp_path, "SELECT password, is_superuser FROM accounts_user WHERE is_superuser"
    )
    assert is_superuser
    assert PBKDF2PasswordHasher().verify(match["password"], encoded)
    assert "development secret key" in first.stderr.lower()

    models = _rows(tmp_path, "SELECT name FROM registry_registeredmodel ORDER BY name")
    assert models == [("churn-predictor",), ("credit-scoring",), ("fraud-detector",)]
    versions = _rows(
        tmp_path,
        "SELECT m.name, v.version, v.status FROM registry_modelversion v "
        "JOIN registry_registeredmodel m ON m.id = v.model_id ORDER BY m.name, v.version",
    )
    assert [(name, number) for name, number, _ in versions] == [
        ("churn-predictor", 1),
        ("churn-predictor", 2),
        ("credit-scoring", 1),
        ("fraud-detector", 1),
        ("fraud-detector", 2),
        ("fraud-detector", 3),
    ]
    # Their artifacts are real files under the var folder, validated in-process.
    assert {status for _, _, status in versions} == {"READY"}
    aliases = _rows(
        tmp_path,
        "SELECT m.name, a.alias, v.version FROM registry_modelalias a JOIN registry_registeredmodel m "
        "ON m.id = a.model_id JOIN registry_modelversion v ON v.id = a.version_id ORDER BY m.name",
    )
    assert aliases == [
        ("churn-predictor", "candidate", 2),
        ("credit-scoring", "candidate", 1),
        ("fraud-detector", "candidate", 3),
    ]
    assert _rows(tmp_path, "SELECT count(*) FROM audit_auditevent")[0][0] > 0
    # Every printed password is one-time: its user must set their own at first sign-in (issue 21).
    assert _rows(tmp_path, "SELECT username, must_change_password FROM accounts_user ORDER BY username") == [
        ("admin", 1),
        ("ml-lead", 1),
        ("risk-approver", 1),
    ]

    # The demo inventory (issue 25): tiers, one validated model, one approved card.
    assert _rows(
        tmp_path,
        "SELECT m.name, i.risk_tier, i.lifecycle_status FROM inventory_inventoryrecord i "
        "JOIN registry_registeredmodel m ON m.id = i.model_id ORDER BY m.name",
    ) == [
        ("churn-predictor", "low", "development"),
        ("credit-scoring", "high", "development"),
        ("fraud-detector", "high", "in_use"),
    ]
    [(model, number, outcome, validator, author, next_review)] = _rows(
        tmp_path,
        "SELECT m.name, v.version, x.outcome, u.username, a.username, x.next_review_on "
        "FROM inventory_validation x JOIN registry_modelversion v ON v.id = x.version_id "
        "JOIN registry_registeredmodel m ON m.id = v.model_id JOIN accounts_user u ON u.id = x.validator_id "
        "JOIN accounts_user a ON a.id = v.creator_id",
    )
    assert (model, number, outcome, validator) == ("fraud-detector", 3, "pass", "risk-approver")
    assert validator != author and next_review  # independent of the author; reviewed per its tier
    [(model, number, state, card_author, approver, bound, digest)] = _rows(
        tmp_path,
        "SELECT m.name, v.version, c.state, a.username, u.username, c.approved_digest, f.digest "
        "FROM inventory_modelcard c JOIN registry_modelversion v ON v.id = c.version_id "
        "JOIN registry_registeredmodel m ON m.id = v.model_id JOIN accounts_user a ON a.id = c.author_id "
        "JOIN accounts_user u ON u.id = c.approved_by_id JOIN registry_artifactmanifest f ON f.version_id = v.id",
    )
    assert (model, number, state, card_author, approver) == (
        "fraud-detector",
        3,
        "approved",
        "admin",
        "ml-lead",
    )
    assert bound and bound == digest
    assert "fraud-detector v3 validated by 'risk-approver'" in first.stdout

    second = _quickstart(tmp_path)

    assert "one-time password" not in second.stdout
    assert "already has models" in second.stdout
    assert _rows(tmp_path, "SELECT password FROM accounts_user WHERE is_superuser") == [(encoded,)]
    assert len(_rows(tmp_path, "SELECT id FROM registry_modelversion")) == 6


def test_quickstart_without_demo_leaves_the_registry_empty(tmp_path):
    result = _quickstart(tmp_path, "--no-demo")
    assert PASSWORD_LINE.search(result.stdout)
    assert _rows(tmp_path, "SELECT count(*) FROM registry_registeredmodel") == [(0,)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_quickstart_serves_the_api_docs_and_probes(tmp_path):
    printed = PASSWORD_LINE.search(_quickstart(tmp_path, "--no-demo").stdout)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "quickstart", "--no-demo", "--addrport", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=_embedded_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "quickstart did not start serving within 60 s"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/docs/", timeout=5) as response:
            assert b"swagger-ui" in response.read()
        # The root is a landing page naming the URIs to use, not Django's debug 404.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert b"MLFLOW_REGISTRY_URI" in response.read()
        # The printed password only opens the admin's password change page, not the API.
        credentials = base64.b64encode(f"{printed['user']}:{printed['password']}".encode()).decode()
        api = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/models", headers={"Authorization": f"Basic {credentials}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(api, timeout=10)
        assert refused.value.code == 403
        assert "one-time password" in json.loads(refused.value.read())["message"]
    finally:
        server.terminate()
        server.wait(timeout=10)
