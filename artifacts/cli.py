"""`quorum verify`: what a serving system runs before it loads a model (issue 24). Fails closed.

    quorum verify models:/fraud@champion --url https://quorum.example --token $TOKEN \\
        [--key quorum-keys.json] [--out ./model]

Needs only Quorum's URL and a token (or QUORUM_URL / QUORUM_TOKEN, falling back to
MLFLOW_TRACKING_URI / MLFLOW_TRACKING_TOKEN); no Django, no database. It resolves the URI,
checks Quorum's validation attestation (and, for an alias, the promotion attestation that put the
version there) against Quorum's public keys, downloads every attested file through Quorum,
recomputes each sha256 and the OMS digest over all of them, and writes the files to --out only
when everything matched. Any mismatch exits 1 with the reason; usage or connection problems exit 2.

Keys: pass the key set you got from Quorum's operators through a channel you trust (`--key`, the
JSON of GET /api/v1/audit/keys or PEM files). Without --key the keys are fetched from the server
being verified, which proves the files are the ones Quorum attested but not that this is your Quorum.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import requests

from artifacts import attestations

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


class VerificationFailed(Exception):
    """The model must not be loaded: the message says why."""


class _Quorum:
    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kwargs) -> requests.Response:
        response = self.session.get(self.url + path, timeout=60, **kwargs)
        if response.status_code != 200:
            raise VerificationFailed(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return response

    def report(self, verified: dict, environment: str, endpoint: str) -> int:
        """Tell Quorum what was loaded where (POST /api/v1/deployments); returns the record's id."""
        body = {
            "name": verified["model"],
            "version": verified["version"],
            "alias": verified["alias"] or "",
            "environment": environment,
            "endpoint": endpoint,
            "digest": verified["oms_digest"],
        }
        response = self.session.post(self.url + "/api/v1/deployments", json=body, timeout=60)
        if response.status_code != 201:
            raise VerificationFailed(
                f"reporting the deployment answered {response.status_code}: {response.text[:300]}"
            )
        return response.json()["id"]


def _public_key_id_and_pem(pem: str) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pem.encode())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16], pem  # the key id audit/chain.py gives an Ed25519 key


def keys_loaded(paths: list[str], quorum: _Quorum) -> dict[str, str]:
    """key id -> PEM, from --key files (JSON key sets or PEM) or, without any, from the server."""
    texts = [Path(p).read_text() for p in paths] if paths else [quorum.get("/api/v1/audit/keys").text]
    keys: dict[str, str] = {}
    for text in texts:
        if text.lstrip().startswith(("{", "[")):
            body = json.loads(text)
            for entry in body.get("keys", []) if isinstance(body, dict) else body:
                keys[entry["key_id"]] = entry["public_key_pem"]
        else:
            for block in re.findall(
                r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", text, re.DOTALL
            ):
                key_id, pem = _public_key_id_and_pem(block + "\n")
                keys[key_id] = pem
    if not keys:
        raise VerificationFailed("no public keys to verify Quorum's attestations with")
    return keys


def _latest(
    rows: list[dict], keys: dict[str, str], subject: str, kind: str, **predicate
) -> tuple[dict, dict]:
    """The newest attestation of `kind` that verifies and says what it should; else VerificationFailed."""
    problems = []
    for row in reversed([r for r in rows if r["kind"] == kind]):
        try:
            statement = attestations.envelope_verified(row["envelope"], keys)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        names = [s.get("name") for s in statement.get("subject", [])]
        body = statement.get("predicate", {})
        if names != [subject] or any(body.get(k) != v for k, v in predicate.items()):
            problems.append(f"a {kind} attestation names another subject or target")
            continue
        return row, statement
    why = "; ".join(problems) if problems else "there is none"
    raise VerificationFailed(f"no valid {kind} attestation for {subject}: {why}")


def verify(uri: str, quorum: _Quorum, keys: dict[str, str], out: Path | None) -> dict:
    match = _MODEL_URI.match(uri)
    if match is None:
        raise ValueError(f"{uri!r} is not models:/<name>@<alias> or models:/<name>/<version>")
    name, alias = match["name"], match["alias"]
    if alias:
        found = quorum.get("/api/2.0/mlflow/registered-models/alias", params={"name": name, "alias": alias})
        version = int(found.json()["model_version"]["version"])
    else:
        version = int(match["version"])
    subject = f"{name}/{version}"
    rows = quorum.get(f"/api/v1/models/{quote(name, safe='')}/versions/{version}/attestations").json()
    _, validation = _latest(rows, keys, subject, "validation")
    digest = "sha256:" + validation["subject"][0]["digest"]["sha256"]
    promotion = None
    if alias:
        _, promotion = _latest(rows, keys, subject, "promotion", target={"kind": "alias", "name": alias})
        if "sha256:" + promotion["subject"][0]["digest"]["sha256"] != digest:
            raise VerificationFailed(
                "the promotion attestation names other files than the validation attestation"
            )
    resources = validation["predicate"]["resources"]
    staging = Path(tempfile.mkdtemp(prefix="quorum-verify-"))
    try:
        hashed = []
        for resource in resources:
            path = resource["name"]
            if path.startswith("/") or ".." in Path(path).parts:
                raise VerificationFailed(f"the attestation names a path outside the model: {path!r}")
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            sha, size = hashlib.sha256(), 0
            served = f"/api/2.0/mlflow-artifacts/artifacts/quorum-models/{quote(name, safe='')}/{version}/{quote(path)}"
            try:
                with quorum.get(served, stream=True) as response, open(target, "wb") as stream:
                    for chunk in response.iter_content(1024 * 1024):
                        sha.update(chunk)
                        size += len(chunk)
                        stream.write(chunk)
            except requests.exceptions.ChunkedEncodingError as exc:
                # Quorum cuts a transfer whose bytes do not match the manifest (or the connection broke).
                raise VerificationFailed(f"'{path}' was cut off while downloading ({exc})") from exc
            if sha.hexdigest() != resource["digest"]["sha256"] or size != resource["size"]:
                raise VerificationFailed(
                    f"'{path}' is not the file Quorum validated (digest or size differs)"
                )
            hashed.append((path, sha.hexdigest()))
        if attestations.oms_digest(hashed) != digest:
            raise VerificationFailed("the files' OMS digest is not the attested one")
        if out is not None:
            if out.exists() and any(out.iterdir()):
                raise ValueError(f"--out {out} is not empty")
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(staging, out, dirs_exist_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "model": name,
        "version": version,
        "alias": alias,
        "oms_digest": digest,
        "files": len(resources),
        "producer_signature": validation["predicate"].get("producer_signature", {}),
        "approvers": [a["username"] for a in promotion["predicate"]["approvers"]] if promotion else [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quorum", description="Quorum's deploy-time tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="verify a model's files against Quorum's attestations")
    check.add_argument("uri", help="models:/<name>@<alias> or models:/<name>/<version>")
    check.add_argument("--url", default=os.environ.get("QUORUM_URL") or os.environ.get("MLFLOW_TRACKING_URI"))
    check.add_argument(
        "--token", default=os.environ.get("QUORUM_TOKEN") or os.environ.get("MLFLOW_TRACKING_TOKEN", "")
    )
    check.add_argument("--key", action="append", default=[], help="Quorum's public keys (JSON or PEM)")
    check.add_argument("--out", type=Path, help="write the verified files here")
    check.add_argument("--environment", help="report the deployment to Quorum: environment name")
    check.add_argument("--endpoint", help="report the deployment to Quorum: endpoint or service name")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url (or QUORUM_URL) is required")
    quorum = _Quorum(args.url, args.token)
    try:
        result = verify(args.uri, quorum, keys_loaded(args.key, quorum), args.out)
        if args.environment and args.endpoint:
            result["deployment"] = quorum.report(result, args.environment, args.endpoint)
    except VerificationFailed as exc:
        print(f"quorum verify: FAILED: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError, requests.RequestException) as exc:
        print(f"quorum verify: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"verified": True, **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
