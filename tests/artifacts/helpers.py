"""Building model artifact trees for tests (local folders and S3 prefixes)."""

import hashlib
import os
from pathlib import Path

MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.0
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.5.0
signature:
  inputs: '[{"type": "double", "name": "amount"}]'
  outputs: '[{"type": "long"}]'
"""


def model_files(*, big_bytes: int = 300_000) -> dict[str, bytes]:
    """A small but realistic MLflow model: MLmodel, a binary model, an environment, a nested file."""
    return {
        "MLmodel": MLMODEL.encode(),
        "model.pkl": os.urandom(big_bytes),
        "conda.yaml": b"name: env\ndependencies: [python=3.11]\n",
        "requirements.txt": b"scikit-learn==1.5.0\n",
        "metadata/notes.txt": b"trained on 2026-01 data\n",
    }


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def upload_tree(client, bucket: str, prefix: str, files: dict[str, bytes]) -> str:
    for relpath, data in files.items():
        client.put_object(Bucket=bucket, Key=f"{prefix}/{relpath}", Body=data)
    return f"s3://{bucket}/{prefix}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
