"""OMS signing and verification throughput beside plain SHA-256 of the same files (issue 24).

    python bench/signing_vs_sha256.py [--mb 256] [--files 4] [--rounds 5]

Writes a model folder of random files, then per round, interleaved: SHA-256 of every file
(hashlib, 1 MiB reads, one thread: the floor), `model-signing` sign (key method) and verify, and
Quorum's own check at validation (private copy re-hashed + verify). Prints medians and spreads in
MiB/s and the ratio to the SHA-256 floor. Run by hand; results go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import model_signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def sha256_all(folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        if path.name == "model.sig":
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256, help="total size of the model")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-oms-"))
    model = work / "model"
    model.mkdir()
    per_file = args.mb * 1024 * 1024 // args.files
    for number in range(args.files):
        with open(model / f"weights-{number}.bin", "wb") as out:
            for _ in range(per_file // (1024 * 1024)):
                out.write(os.urandom(1024 * 1024))
    key = ec.generate_private_key(ec.SECP256R1())
    (work / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (work / "key.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"])
    signer = model_signing.signing.Config().use_elliptic_key_signer(private_key=work / "key.pem")
    signer.set_hashing_config(hashing)

    def sign() -> None:
        signer.sign(model, model / "model.sig")

    def verify() -> None:
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=work / "key.pub").verify(
            model, model / "model.sig"
        )

    sign()
    sha256_all(model)  # warm the page cache
    timings: dict[str, list[float]] = {"sha256": [], "sign": [], "verify": []}
    for _ in range(args.rounds):
        for name, run in (("sha256", lambda: sha256_all(model)), ("sign", sign), ("verify", verify)):
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    floor = statistics.median(timings["sha256"])
    print(
        f"{args.mb} MiB in {args.files} files, {args.rounds} interleaved rounds, python {sys.version.split()[0]}"
    )
    for name, values in timings.items():
        median = statistics.median(values)
        print(
            f"{name:>7}: median {args.mb / median:7.0f} MiB/s (spread {args.mb / max(values):.0f}–"
            f"{args.mb / min(values):.0f}), {floor / median:.2f}x of sha256"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
