"""Object storage: Django's `default_storage` (the S3 bucket through django-storages
when TRANSCRIPTS_BUCKET is set, else the local media folder).

The storage API does the reading, listing and deleting. boto3 is used only for
what it lacks: object tags, object metadata on the documents workers write (an
S3 event handler reads them), ETags, and presigned browser uploads.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage


def on_s3() -> bool:
    return bool(settings.TRANSCRIPTS_BUCKET)


@cache
def client():
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=settings.AWS_REGION,
        endpoint_url=settings.AWS_S3_ENDPOINT_URL,
        config=Config(signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"}),
    )


def _local_path(key: str) -> Path:
    """Where `key` lives in the local media folder; the storage refuses keys that escape it."""
    return Path(default_storage.path(key))


def _write_local(key: str, write) -> None:
    path = _local_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)  # readers never see half a file, and a rewrite replaces it


def put_json(key: str, data: dict, metadata: dict[str, str]) -> None:
    body = json.dumps(data, ensure_ascii=False).encode()
    if on_s3():
        client().put_object(
            Bucket=settings.TRANSCRIPTS_BUCKET,
            Key=key,
            Body=body,
            ContentType="application/json",
            Metadata=metadata,
        )
    else:
        _write_local(key, lambda tmp: tmp.write_bytes(body))


def put_file(key: str, path: str, metadata: dict[str, str]) -> None:
    """Store a file from disk under `key` (streamed, never read whole)."""
    if on_s3():
        client().upload_file(path, settings.TRANSCRIPTS_BUCKET, key, ExtraArgs={"Metadata": metadata})
    else:
        _write_local(key, lambda tmp: shutil.copyfile(path, tmp))


def get_json(key: str) -> dict | None:
    """The document at `key`, or None where there is none: one request either way."""
    try:
        with default_storage.open(key, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def exists(key: str) -> bool:
    return default_storage.exists(key)


def delete(key: str) -> None:
    default_storage.delete(key)


def list_keys(prefix: str) -> list[str]:
    """Every key under the folder `prefix` (ending in '/'), sorted."""
    try:
        folders, files = default_storage.listdir(prefix)
    except FileNotFoundError:  # a local folder that is not there
        return []
    keys = [f"{prefix}{name}" for name in files]
    for folder in folders:
        keys.extend(list_keys(f"{prefix}{folder}/"))
    return sorted(keys)


def delete_prefix(prefix: str) -> None:
    """Remove every object under the folder `prefix`, and locally the folder itself."""
    if not prefix.endswith("/"):
        raise ValueError("delete_prefix takes a folder prefix ending in '/'")
    if on_s3():
        for key in list_keys(prefix):
            default_storage.delete(key)
    else:
        shutil.rmtree(_local_path(prefix), ignore_errors=True)


@contextlib.contextmanager
def local_copy(key: str) -> Iterator[str]:
    """A path on this machine holding the object: the file itself locally, a
    download to /tmp (removed afterwards) on S3, where Lambda has 512 MB+ of /tmp.
    FileNotFoundError when there is no such object."""
    if not on_s3():
        path = _local_path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield str(path)
        return
    fd, path = tempfile.mkstemp(suffix=Path(key).suffix[:10], dir=os.getenv("WORK_DIR") or None)
    try:
        with os.fdopen(fd, "wb") as out, default_storage.open(key, "rb") as src:
            shutil.copyfileobj(src, out, 1024 * 1024)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def head(key: str) -> dict | None:
    """`{"size", "etag"}` for the object, or None when there is none."""
    if not on_s3():
        path = _local_path(key)
        if not path.is_file():
            return None
        stat = path.stat()
        return {"size": stat.st_size, "etag": f"{stat.st_mtime_ns:x}-{stat.st_size:x}"}
    from botocore.exceptions import ClientError

    try:
        resp = client().head_object(Bucket=settings.TRANSCRIPTS_BUCKET, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return {"size": resp["ContentLength"], "etag": resp["ETag"].strip('"')}


def get_tags(key: str) -> dict[str, str]:
    if not on_s3():
        return {}
    resp = client().get_object_tagging(Bucket=settings.TRANSCRIPTS_BUCKET, Key=key)
    return {t["Key"]: t["Value"] for t in resp["TagSet"]}


def set_tags(key: str, tags: dict[str, str]) -> None:
    """Merge `tags` into the object's tags (S3 only). Tagging emits no ObjectCreated."""
    if not on_s3() or not key:
        return
    merged = {**get_tags(key), **{k: tag_value(str(v)) for k, v in tags.items()}}
    client().put_object_tagging(
        Bucket=settings.TRANSCRIPTS_BUCKET,
        Key=key,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]},
    )


def tag_value(text: str) -> str:
    """S3 accepts only letters, digits, spaces and `+ - = . _ : / @` in a tag value."""
    return re.sub(r"[^\w\s+\-=.:/@]", "", text).strip()[:256]


def presigned_post(key: str, *, max_bytes: int, expires: int, tags: dict[str, str]) -> dict:
    """A browser upload straight to S3: only `key`, at most `max_bytes`, for `expires` seconds.
    S3 applies `tags` as it stores the object (the `tagging` field is signed too)."""
    tagging = "<Tagging><TagSet>{}</TagSet></Tagging>".format(
        "".join(f"<Tag><Key>{k}</Key><Value>{tag_value(v)}</Value></Tag>" for k, v in tags.items())
    )
    return client().generate_presigned_post(
        Bucket=settings.TRANSCRIPTS_BUCKET,
        Key=key,
        Fields={"tagging": tagging},
        Conditions=[{"tagging": tagging}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=expires,
    )
