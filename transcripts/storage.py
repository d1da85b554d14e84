"""Object storage for the workers: the S3 bucket when TRANSCRIPTS_BUCKET is set,
else the local media folder. The boto3 client is built lazily, once."""

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


def _local(key: str) -> Path:
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        raise ValueError(f"key {key!r} escapes the storage root")
    return path


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
        return
    path = _local(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)  # readers never see half a document


def get_json(key: str) -> dict:
    if on_s3():
        obj = client().get_object(Bucket=settings.TRANSCRIPTS_BUCKET, Key=key)
        return json.loads(obj["Body"].read())
    return json.loads(_local(key).read_bytes())


@contextlib.contextmanager
def local_copy(key: str) -> Iterator[str]:
    """A path on this machine holding the object: the file itself locally, a
    download to /tmp (removed afterwards) on S3, where Lambda has 512 MB+ of /tmp."""
    if not on_s3():
        yield str(_local(key))
        return
    suffix = Path(key).suffix[:10]
    fd, path = tempfile.mkstemp(suffix=suffix, dir=os.getenv("WORK_DIR") or None)
    os.close(fd)
    try:
        client().download_file(settings.TRANSCRIPTS_BUCKET, key, path)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


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


def copy_to_local_file(key: str, dest: str) -> None:
    with local_copy(key) as path:
        shutil.copyfile(path, dest)


def head(key: str) -> dict | None:
    """`{"size", "etag"}` for the object, or None when there is none."""
    if not on_s3():
        path = _local(key)
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


def exists(key: str) -> bool:
    if on_s3():
        from botocore.exceptions import ClientError

        try:
            client().head_object(Bucket=settings.TRANSCRIPTS_BUCKET, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True
    return _local(key).is_file()


def put_file(key: str, path: str, metadata: dict[str, str]) -> None:
    """Store a file from disk under `key` (streamed, never read whole)."""
    if on_s3():
        client().upload_file(path, settings.TRANSCRIPTS_BUCKET, key, ExtraArgs={"Metadata": metadata})
        return
    dest = _local(key)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    shutil.copyfile(path, tmp)
    os.replace(tmp, dest)


def list_keys(prefix: str) -> list[str]:
    if on_s3():
        keys: list[str] = []
        for page in (
            client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=settings.TRANSCRIPTS_BUCKET, Prefix=prefix)
        ):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys
    root = Path(settings.MEDIA_ROOT).resolve()
    base = _local(prefix.rstrip("/")) if prefix.rstrip("/") else root
    if not base.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in base.rglob("*") if p.is_file())


def delete_prefix(prefix: str) -> None:
    """Remove every object under `prefix` (a folder's worth of working files)."""
    if not prefix.endswith("/"):
        raise ValueError("delete_prefix takes a folder prefix ending in '/'")
    keys = list_keys(prefix)
    if on_s3():
        # One DeleteObject per key (a folder holds a few dozen): a batch DeleteObjects
        # reports refused keys in its body instead of raising, so a policy that forgot
        # a prefix would leave files behind without a word.
        for key in keys:
            client().delete_object(Bucket=settings.TRANSCRIPTS_BUCKET, Key=key)
        return
    base = _local(prefix.rstrip("/"))
    if base.is_dir():
        shutil.rmtree(base, ignore_errors=True)
