"""Fault injection: the S3 endpoint goes away during a governed copy and comes back.

A TCP proxy in front of the (session) moto server stands in for the endpoint, so "down" is a refused
connection while moto keeps its objects. The copy retries, then ends in a failed job saying what
happened; nothing is promoted; a person retries it through the API once S3 is back, and it succeeds
with verified digests.
"""

import socket
import threading
from collections.abc import Iterator

import pytest

from artifacts.models import ArtifactJob, JobKind
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, sha256, upload_tree
from tests.fixtures_pipeline import MotoS3, free_port

pytestmark = pytest.mark.django_db(transaction=True)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target port until stopped; start() again listens on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.port = target_port, free_port()
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for sock in self.open:  # pooled keep-alive connections die with the endpoint too
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def s3_behind_proxy(moto_s3: MotoS3, monkeypatch) -> Iterator[TcpProxy]:
    proxy = TcpProxy(int(moto_s3.endpoint_url.rsplit(":", 1)[1]))
    proxy.start()
    for name, value in moto_s3.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield proxy
    proxy.stop()


def test_s3_down_during_a_copy_fails_clearly_and_a_retry_succeeds_once_it_is_back(
    cast, client_for, moto_s3, s3_behind_proxy, settings
) -> None:
    governed = moto_s3.bucket("governed", versioned=True)
    settings.QUORUM_GOVERNED_STORE = f"s3://{governed}"
    files = model_files()
    source = upload_tree(moto_s3.client(), moto_s3.bucket("runs"), "m", files)
    api = client_for(cast.owner)
    assert api.post("/api/v1/models", {"name": "fraud"}, format="json").status_code == 201
    # Sources are scoped (issue 19): the model's owner allow-lists the run bucket's folder first.
    allowed = api.post("/api/v1/models/fraud/source-prefixes", {"prefix": source}, format="json")
    assert allowed.status_code == 201, allowed.content
    created = api.post("/api/v1/models/fraud/versions", {"source": source}, format="json").json()
    assert created["status"] == "READY", created

    s3_behind_proxy.stop()
    response = api.post("/api/v1/models/fraud/versions/1/governed-copy")
    assert response.status_code == 202, response.content
    job = ArtifactJob.objects.get(pk=response.json()["id"])
    assert (job.kind, job.status) == (JobKind.COPY, "failed")
    assert "unreachable" in job.error and "Gave up" in job.error, job.error
    assert job.attempts > 1  # it retried before giving up
    version = ModelVersion.objects.get(model__name="fraud", version=1)
    assert not version.storage_location.startswith(f"s3://{governed}")  # nothing promoted

    s3_behind_proxy.start()
    assert api.post(f"/api/v1/artifact-jobs/{job.pk}/retry").status_code == 202
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    listed = moto_s3.client().list_objects_v2(Bucket=governed)["Contents"]
    stored = {
        item["Key"]: sha256(moto_s3.client().get_object(Bucket=governed, Key=item["Key"])["Body"].read())
        for item in listed
        if not item["Key"].startswith(("audit/", "attestations/"))  # audit checkpoints and attestations
    }
    assert stored == {f"fraud/1/{path}": sha256(data) for path, data in files.items()}
