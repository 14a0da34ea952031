"""The README walkthrough, run as written: a real `mlflow server`, the mlflow client with sklearn
autolog, the Databricks SDK from a pipeline, two approvals in Chromium, and serving `@champion`.

The README's blocks marked `<!-- walkthrough:<step> -->` are read from README.md and executed (the
addresses 127.0.0.1:5000 and :8000 replaced by the test's servers), so the walkthrough cannot drift
from what works. Then a second version is requested and its request page, with the run's metrics
and parameters beside the champion's, is checked in Chromium and photographed for the docs.
"""

import io
import logging
import os
import re
import shlex
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from registry.models import ModelVersion
from tests.registry.test_mlflow_tracking_server import tracking_server  # noqa: F401 - the fixture
from tests.workflows.test_browser import CHROMIUM, CHROMIUM_ARGS, COMMITTED_SCREENSHOTS, browser_or_skip
from workflows.models import EvidenceSnapshot, RequestState, TransitionRequest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # a tracking server, two trainings, a browser: minutes on a loaded box
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "celery_in_process"),
]

README = Path(__file__).resolve().parents[2] / "README.md"
STEPS = ("servers", "user", "train", "grant", "request", "load")
BLOCK = re.compile(r"<!-- walkthrough:(?P<step>\w+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)
APPROVER_LINE = re.compile(r"Created approver '(?P<user>[^']+)' with one-time password: (?P<password>\S+)")
DANA_PASSWORD = "dana-walkthrough-pw-1!"


def walkthrough_blocks() -> dict[str, str]:
    found = {m["step"]: m["code"] for m in BLOCK.finditer(README.read_text())}
    assert tuple(found) == STEPS, f"README walkthrough steps changed: {tuple(found)}"
    return found


def _manage(line: str) -> str:
    """Run one `.venv/bin/python manage.py …` line of the README in-process; its stdout."""
    words = shlex.split(line)
    assert words[:2] == [".venv/bin/python", "manage.py"], line
    out = io.StringIO()
    call_command(*words[2:], stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def own_password(username: str) -> str:
    """The password an approver sets at first sign-in, in place of the printed one-time one."""
    return f"{username}-own-passphrase-2026"


def _approve_in_browser(page, base: str, request_id: int, username: str, password: str, comment: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/approvals/{request_id}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    if page.url.endswith("/admin/password_change/"):
        # The quickstart's printed passwords are one-time: the first sign-in sets the approver's own.
        page.fill("#id_old_password", password)
        page.fill("#id_new_password1", own_password(username))
        page.fill("#id_new_password2", own_password(username))
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/password_change/done/")
        page.goto(f"{base}/admin/approvals/{request_id}/")
        password = own_password(username)
    page.wait_for_selector("#approve-button")
    page.fill("#id_comment", comment)
    # @champion's approvals are electronic signatures: a meaning, and the password again.
    page.select_option("#id_meaning", "Approved for production")
    page.fill("#id_password", password)
    page.click("#approve-button")
    page.wait_for_selector("#request-state")
    assert f"({username}) on " in page.inner_text("#signatures")


def test_readme_walkthrough_runs_as_written(
    tracking_server,  # noqa: F811
    live_server,
    settings,
    monkeypatch,
    mlflow_env,
    tmp_path,
    caplog,
):
    sync_playwright = browser_or_skip()
    blocks = walkthrough_blocks()

    def local(code: str) -> str:
        return code.replace("http://127.0.0.1:5000", tracking_server).replace(
            "http://127.0.0.1:8000", live_server.url
        )

    # 1. The servers: the tracking server fixture runs the README's `mlflow server` (its own port and
    #    folders); Quorum is `scripts/start` = quickstart, served here by the live server.
    venv, mlflow_line, start_line = blocks["servers"].strip().splitlines()
    assert venv.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e . ")
    assert mlflow_line.startswith(".venv/bin/mlflow server --host 127.0.0.1 --port 5000 --backend-store-uri ")
    assert start_line.startswith("QUORUM_MLFLOW_TRACKING_URI=http://127.0.0.1:5000 scripts/start")
    settings.QUORUM_MLFLOW_TRACKING_URI = tracking_server
    settings.QUORUM_ARTIFACT_ROOT = tmp_path
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    monkeypatch.chdir(tmp_path)  # quickstart writes its demo folders beside it
    printed = io.StringIO()
    call_command("quickstart", "--no-serve", stdout=printed)
    passwords = {m["user"]: m["password"] for m in APPROVER_LINE.finditer(printed.getvalue())}
    assert set(passwords) == {"risk-approver", "ml-lead"}

    # 2. The data scientist and her token, by the README's commands (getpass answers the prompt).
    monkeypatch.setattr("getpass.getpass", lambda prompt="": DANA_PASSWORD)
    create_user, export_token = blocks["user"].strip().splitlines()
    assert "Created user 'dana'" in _manage(create_user)
    prefix = "export QUORUM_TOKEN=$("
    assert export_token.startswith(prefix) and export_token.endswith(")")
    mlflow_env()  # a clean client environment, restored after the test
    monkeypatch.setenv("QUORUM_TOKEN", _manage(export_token[len(prefix) : -1]))

    # 3-5. Train and register with autolog, grant the approvers, request @champion with the SDK.
    namespace: dict = {}
    caplog.set_level(logging.WARNING, logger="databricks.sdk")
    for step in ("train", "grant", "request"):
        exec(compile(local(blocks[step]), f"README walkthrough:{step}", "exec"), namespace)
    # The SDK found Quorum's /.well-known/databricks-config: no fallback warning.
    assert not [r for r in caplog.records if "host metadata" in r.getMessage()], caplog.text

    first = ModelVersion.objects.get(model__name="diabetes-ridge", version=1)
    assert first.run_id and first.source.startswith("models:/m-")  # lineage on MLflow 3's path
    request = TransitionRequest.objects.get(version=first, target="champion")
    assert request.state == RequestState.PENDING and request.requester.username == "dana"

    # 6. Two approvals in the admin, in Chromium.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    updating = os.environ.get("QUORUM_UPDATE_SCREENSHOTS") == "1"
    screenshots = COMMITTED_SCREENSHOTS if updating else tmp_path
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for approver in ("risk-approver", "ml-lead"):
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.set_default_timeout(60_000)
            _approve_in_browser(
                page,
                live_server.url,
                request.pk,
                approver,
                passwords[approver],
                f"{approver}: evidence read.",
            )
        assert page.inner_text("#request-state") == "Applied"

        # 7. Serve the champion, as the README does.
        exec(compile(local(blocks["load"]), "README walkthrough:load", "exec"), namespace)
        assert len(namespace["champion"].predict(namespace["X_test"][:3])) == 3

        # Beyond the README: a second version asks for @champion; its page shows the evidence
        # beside the champion's (v1) with the differences.
        exec(compile(local(blocks["train"]).replace("alpha=1.0", "alpha=0.1"), "train v2", "exec"), namespace)
        exec(compile(local(blocks["request"]), "request v2", "exec"), namespace)
        second = TransitionRequest.objects.get(version__model__name="diabetes-ridge", version__version=2)
        answer = requests.get(
            f"{live_server.url}/api/v1/requests/{second.pk}",
            headers={"Authorization": f"Bearer {os.environ['QUORUM_TOKEN']}"},
            timeout=60,
        ).json()
        shown = answer["evidence_snapshot"]
        assert shown["state"] == "ok" and shown["stale"] is False, shown
        candidate_run, holder_run = shown["candidate"]["run"], shown["holder"]["run"]
        assert candidate_run["params"]["alpha"] == "0.1" and holder_run["params"]["alpha"] == "1.0"
        assert candidate_run["url"].startswith(f"{tracking_server}/#/experiments/")
        assert {"alpha"} <= {p["key"] for p in shown["comparison"]["params_differing"]}
        r2 = next(m for m in shown["comparison"]["metrics"] if m["key"] == "test_r2")
        assert r2["delta"] is not None and r2["direction"] in ("up", "down", "same")
        assert shown["candidate"]["model"]["flavors"].get("sklearn") is not None
        assert any(line.startswith("scikit-learn") for line in shown["candidate"]["model"]["requirements"])

        # A later edit of the run does not rewrite what approvers were shown.
        import mlflow

        mlflow.MlflowClient().log_metric(candidate_run["run_id"], "test_r2", -1.0)
        assert (
            EvidenceSnapshot.objects.filter(request=second)
            .latest("taken_at")
            .candidate["run"]["metrics"]["test_r2"]
            == candidate_run["metrics"]["test_r2"]
        )

        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/approvals/{second.pk}/")
        page.fill("#id_username", "risk-approver")
        page.fill("#id_password", own_password("risk-approver"))  # set at the first approval
        page.click("input[type=submit]")
        page.wait_for_selector("#metrics")
        metric_row = page.inner_text('#metrics tr[data-metric="test_r2"]')
        assert re.search(r"[▲▼=]", metric_row), metric_row
        assert "differs" in page.inner_text('#params tr[data-param="alpha"]')
        assert page.query_selector("#evidence-current") is not None
        assert page.get_attribute("#holder-run", "href").startswith(tracking_server)
        page.locator("#evidence").scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "evidence-comparison.png"), full_page=True)
        browser.close()

    # The pipeline decides with the SDK too: ml-lead comments and approves with a token of her own.
    from databricks.sdk import WorkspaceClient

    lead_token = _manage(".venv/bin/python manage.py create_token --user ml-lead --name review")
    lead = WorkspaceClient(host=live_server.url, token=lead_token).model_registry
    lead.create_comment(name="diabetes-ridge", version="2", comment="Lower alpha; R² checked.")
    listed = lead.list_transition_requests(name="diabetes-ridge", version="2")
    assert [a.to_stage for a in listed] == ["@champion"]
    # @champion's decisions are electronic signatures: the SDK's typed call cannot carry one and is
    # refused; the same route signs with the person's password beside Databricks' fields.
    from databricks.sdk.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="electronic signatures"):
        lead.approve_transition_request(
            name="diabetes-ridge",
            version="2",
            stage="@champion",
            archive_existing_versions=False,
            comment="ok",
        )

    def decide(token: str, username: str, verb: str, **body) -> dict:
        return WorkspaceClient(host=live_server.url, token=token).api_client.do(
            "POST",
            f"/api/2.0/mlflow/transition-requests/{verb}",
            body={"name": "diabetes-ridge", "stage": "@champion", **body}
            | {"signature": {"password": own_password(username), "meaning": "Approved for production"}},
        )

    decide(lead_token, "ml-lead", "approve", version="2", comment="ok")
    second.refresh_from_db()
    assert second.state == RequestState.PENDING  # one approval so far: the browser only looked
    risk_token = _manage(".venv/bin/python manage.py create_token --user risk-approver --name review")
    decide(risk_token, "risk-approver", "approve", version="2", comment="ok")
    second.refresh_from_db()
    assert second.state == RequestState.APPLIED, second.state_reason
    assert second.replaced_version.version == 1

    # And rejects: dana asks to move @champion back to v1; ml-lead rejects it.
    namespace["registry"].create_transition_request(
        name="diabetes-ridge", version="1", stage="@champion", comment="roll back"
    )
    decide(lead_token, "ml-lead", "reject", version="1", comment="no")
    rejected = TransitionRequest.objects.filter(version=first, target="champion").latest("created_at")
    assert rejected.state == RequestState.REJECTED
