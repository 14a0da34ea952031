"""Artifact pipeline benchmark: validation and governed copy against plain boto3 on the same S3 endpoint.

Run by hand (not in CI):

    python bench/artifacts.py                       # starts a moto S3 server, 1 GiB per scenario
    python bench/artifacts.py --endpoint http://127.0.0.1:9000 --total-mb 1024   # e.g. MinIO
                                                    # (credentials from AWS_ACCESS_KEY_ID/...)

Two scenarios, each 1 GiB by default: many files (`--files`, 1 MiB each by default) and one
large file. For each it prints, pipeline vs plain boto3 with the same thread count:

- validate: the registration's validation job (list, stream every object through SHA-256,
  parse MLmodel, write the manifest) vs a plain download-and-SHA-256 of the same objects;
- copy: the governed store's copy step (server-side CopyObject / UploadPartCopy with digest
  tags and If-None-Match) vs plain `copy_object` calls;
- copy+verify: the whole governed-copy job (claim, copy, read back and compare every digest,
  record progress and the governed location) vs plain `copy_object` followed by a plain
  download-and-SHA-256 of the copies (the minimum work verification needs);
- and single-core hashing throughput of `sha256_stream`.

Targets (issue 7): copy <= 1.1x plain; copy+verify <= 1.2x plain; hashing >= 300 MB/s.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
MIB = 1024 * 1024
UPLOAD_CONFIG = None  # set in main(): boto3's TransferConfig with 64 MiB parts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    process.kill()
    raise SystemExit("moto_server did not start")


def configure_django(endpoint: str, workdir: Path, concurrency: int) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["QUORUM_VAR_DIR"] = str(workdir)
    os.environ["QUORUM_MAX_VERSION_BYTES"] = str(1024**4)
    os.environ["QUORUM_ARTIFACT_COPY_CONCURRENCY"] = str(concurrency)
    os.environ.pop("CELERY_BROKER_URL", None)  # in-process tasks: the jobs run inside this process
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("QUORUM_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def plain_download_sha256(client, bucket: str, keys: list[str], threads: int) -> float:
    def one(key: str) -> str:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        for chunk in iter(lambda: body.read(MIB), b""):
            digest.update(chunk)
        return digest.hexdigest()

    seconds, _ = timed(lambda: list(ThreadPoolExecutor(threads).map(one, keys)))
    return seconds


def plain_copy(client, bucket: str, keys: list[str], src_prefix: str, dst_prefix: str, threads: int) -> float:
    def one(key: str) -> None:
        client.copy_object(
            Bucket=bucket, Key=dst_prefix + key[len(src_prefix) :], CopySource={"Bucket": bucket, "Key": key}
        )

    seconds, _ = timed(lambda: list(ThreadPoolExecutor(threads).map(one, keys)))
    return seconds


def delete_prefix(client, bucket: str, prefix: str) -> None:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects})


def scenario(
    name: str, sizes: list[int], client, threads: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Upload the objects, then time pipeline vs plain for validate, copy and copy+verify.

    Each measurement runs `rounds` times, alternating which side goes first (the S3 server
    warms up), into fresh prefixes; medians are reported.
    """
    from django.conf import settings

    from accounts.models import User
    from artifacts import services as pipeline
    from artifacts.models import ArtifactJob, ArtifactManifest
    from artifacts.stores import S3Store
    from registry import services as registry_services

    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    settings.QUORUM_GOVERNED_STORE = f"s3://{bucket}/governed/"
    source_prefix = f"source/{name}/"
    mlmodel = b"flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"
    client.put_object(Bucket=bucket, Key=source_prefix + "MLmodel", Body=mlmodel)
    keys = [source_prefix + "MLmodel"]
    block = os.urandom(MIB)
    for index, size in enumerate(sizes):
        key = f"{source_prefix}data/part-{index:05}.bin"
        # Distinct bytes per object (the index prefix) without generating 1 GiB of randomness.
        body = index.to_bytes(8, "big") + (block * (size // MIB + 1))[: size - 8]
        client.upload_fileobj(io.BytesIO(body), bucket, key, Config=UPLOAD_CONFIG)
        keys.append(key)
    total = sum(sizes) + len(mlmodel)
    print(
        f"\n== {name}: {len(keys)} objects, {total / MIB:,.0f} MiB, {threads} threads, {rounds} rounds",
        flush=True,
    )

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password=None
    )
    model_name = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    registry_services.registered_model_create(actor=user, name=model_name)
    samples: dict[str, list[tuple[float, float]]] = {"validate": [], "copy": [], "copy+verify": []}

    for round_number in range(rounds):
        tag = f"r{round_number}"
        plain_first = round_number % 2 == 1

        def validate():
            seconds, version = timed(
                lambda: registry_services.model_version_create(
                    actor=user, name=model_name, source=f"s3://{bucket}/{source_prefix.rstrip('/')}"
                )
            )
            return seconds, version

        if plain_first:
            plain = plain_download_sha256(client, bucket, keys, threads)
            ours, version = validate()
        else:
            ours, version = validate()
            plain = plain_download_sha256(client, bucket, keys, threads)
        manifest = ArtifactManifest.objects.get(version=version)
        assert manifest.state == "validated", manifest.message
        samples["validate"].append((ours, plain))

        # The copy step alone: the store operation the job uses, on the job's thread pool helper.
        source = S3Store(bucket, source_prefix)
        destination = S3Store(bucket, f"pipeline-copy-only/{tag}/")
        entries = list(manifest.entries.all())

        def copy_all(entries=entries, source=source, destination=destination) -> float:
            seconds, _ = timed(
                lambda: pipeline._parallel(
                    entries,
                    lambda e: destination.copy_from(source, e.path, e.path, size=e.size, sha256=e.sha256),
                    pipeline.Progress(job=None),
                    lambda item, result: None,
                )
            )
            return seconds

        def plain_copy_only(tag: str = tag) -> float:
            return plain_copy(client, bucket, keys, source_prefix, f"plain-copy-only/{tag}/", threads)

        pair = (plain_copy_only(), copy_all()) if plain_first else (copy_all(), plain_copy_only())
        samples["copy"].append(pair[::-1] if plain_first else pair)

        # The whole governed copy job, verification included, against copy + download-and-hash.
        def job_run(version=version) -> float:
            seconds, job = timed(
                lambda: pipeline.governed_copy_start(actor=user, name=model_name, version=version.version)
            )
            job = ArtifactJob.objects.get(pk=job.pk)
            assert job.status == "succeeded", job.error
            return seconds

        def plain_copy_verify(tag: str = tag) -> float:
            target = f"plain-copy-verify/{tag}/"
            seconds = plain_copy(client, bucket, keys, source_prefix, target, threads)
            return seconds + plain_download_sha256(
                client, bucket, [k.replace(source_prefix, target, 1) for k in keys], threads
            )

        pair = (plain_copy_verify(), job_run()) if plain_first else (job_run(), plain_copy_verify())
        samples["copy+verify"].append(pair[::-1] if plain_first else pair)
        for prefix in ("pipeline-copy-only/", "plain-copy-only/", "plain-copy-verify/", "governed/"):
            delete_prefix(client, bucket, prefix)  # free the server's memory and disk

    results: dict[str, tuple[float, float]] = {}
    for label, pairs in samples.items():
        ours = statistics.median(p[0] for p in pairs)
        plain = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(p[0] / p[1] for p in pairs)
        results[label] = (ours, plain)
        print(
            f"{label:12} pipeline {ours:7.2f}s   plain boto3 {plain:7.2f}s   ratio {ratio:5.2f}x"
            f"   (pipeline {total / MIB / ours:7.1f} MiB/s; per-round ratios "
            f"{', '.join(f'{p[0] / p[1]:.2f}' for p in pairs)})",
            flush=True,
        )
    delete_prefix(client, bucket, "")
    return results


def hashing_throughput(total_bytes: int) -> float:
    from artifacts.stores import sha256_stream

    with tempfile.TemporaryFile() as handle:
        block = os.urandom(MIB)
        for _ in range(total_bytes // MIB):
            handle.write(block)
        handle.flush()
        handle.seek(0)
        sha256_stream(handle)  # warm the page cache
        handle.seek(0)
        seconds, _ = timed(lambda: sha256_stream(handle))
    return total_bytes / MIB / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", help="S3 endpoint URL; default: start a moto server")
    parser.add_argument("--total-mb", type=int, default=1024, help="MiB per scenario")
    parser.add_argument("--files", type=int, default=1024, help="objects in the many-files scenario")
    parser.add_argument("--threads", type=int, default=8, help="concurrency, pipeline and plain alike")
    parser.add_argument("--rounds", type=int, default=3, help="alternating repetitions; medians reported")
    parser.add_argument("--scenario", choices=["many-files", "one-large-file", "both"], default="both")
    args = parser.parse_args()

    moto = None
    endpoint = args.endpoint
    if endpoint is None:
        moto, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            configure_django(endpoint, Path(workdir), args.threads)
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config

            global UPLOAD_CONFIG
            UPLOAD_CONFIG = TransferConfig(multipart_threshold=64 * MIB, multipart_chunksize=64 * MIB)

            # Same checksum settings as the pipeline's client, so only the pipeline's own work differs.
            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                config=Config(
                    max_pool_connections=2 * args.threads,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
            print(f"endpoint {endpoint}; hashing one core: {hashing_throughput(512 * MIB):,.0f} MiB/s")
            total = args.total_mb * MIB
            if args.scenario in ("many-files", "both"):
                scenario("many-files", [total // args.files] * args.files, client, args.threads, args.rounds)
            if args.scenario in ("one-large-file", "both"):
                scenario("one-large-file", [total], client, args.threads, args.rounds)
    finally:
        if moto is not None:
            moto.terminate()


if __name__ == "__main__":
    main()
