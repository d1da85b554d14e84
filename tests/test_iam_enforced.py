"""Every worker path under the deployed IAM policy, enforced.

moto's server runs in its own process with IAM access control switched on
(`/moto-api/reset-auth`, the switch behind INITIAL_NO_AUTH_ACTION_COUNT) once the
bucket and users exist. The app then talks to it with the keys of a user that holds
exactly `deploy/iam-policy.json`, so any S3 action or prefix the policy forgets is an
AccessDenied here, as it would be on a real deployment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from django.core.files.uploadedfile import SimpleUploadedFile

from transcripts import storage as store
from transcripts.keys import transcript_key
from transcripts.models import COMPLETED, Transcript
from workers import events

from . import aws_helpers
from .aws_helpers import ACCOUNT, s3_event
from .conftest import fixture_path, upload_file
from .openai_server import long_speech_opus

POLICY = aws_helpers.ROOT / "deploy" / "iam-policy.json"
REGION = "eu-west-1"  # the production stage, whose names the policy carries
BUCKET = f"processed-transcripts-{ACCOUNT}-{REGION}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory):
    """moto's server in a process of its own, with a bucket, an uploader with full S3
    access (a person dropping files), and the function's user holding the policy."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "inf"},
    )
    try:
        for _ in range(200):
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        admin = dict(
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="admin",
            aws_secret_access_key="admin",
        )
        boto3.client("s3", **admin).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        iam = boto3.client("iam", **admin)
        keys = {}
        policies = {
            "function": POLICY.read_text(),
            "uploader": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        }
        for name, document in policies.items():
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=document)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()
        yield endpoint, keys
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
def as_function(iam_server, monkeypatch, settings):
    """The app, with the function's keys: what the Lambda role would give it."""
    endpoint, keys = iam_server
    access, secret = keys["function"]
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # boto3's default session keeps the first credentials it resolved (another test's).
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    aws_helpers.use_s3_storage(settings, endpoint_url=endpoint, bucket=BUCKET, region=REGION)
    yield boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
    )
    store.client.cache_clear()


@pytest.fixture
def uploader(iam_server):
    endpoint, keys = iam_server
    access, secret = keys["uploader"]
    return boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
    )


def _deliver(*keys: str) -> None:
    """What the bucket's one notification does: every ObjectCreated goes to the router."""
    assert events.route(s3_event(*keys, bucket=BUCKET), None) == {"handled": list(keys)}


def test_iam_is_really_enforced(as_function, uploader):
    """The policy denies what it does not grant: writing a drop, or anything outside the prefixes."""
    uploader.put_object(Bucket=BUCKET, Key="elsewhere/x.txt", Body=b"x")
    for call in (
        lambda: as_function.put_object(Bucket=BUCKET, Key="inbox/alice/x.mp3", Body=b"x"),
        lambda: as_function.get_object(Bucket=BUCKET, Key="elsewhere/x.txt"),
        lambda: as_function.delete_bucket(Bucket=BUCKET),
    ):
        with pytest.raises(ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.django_db(transaction=True)
def test_a_web_upload_is_transcribed_tagged_and_deleted_under_the_policy(
    as_function, alice_client, post_upload, settings
):
    settings.TRANSCRIBE_RUNNER = "inline"
    response = post_upload({"audio": upload_file("speech.mp3"), "title": "Standup"})
    assert response.status_code == 302
    t = Transcript.objects.get()
    _deliver(t.audio.name)  # the upload's own event: tags it, dispatch is a no-op by now
    _deliver(transcript_key(t.id))  # the result's event records it
    t.refresh_from_db()
    assert t.status == COMPLETED, t.error
    assert "fox" in t.text.lower()
    assert store.get_tags(t.audio.name)["status"] == "completed"
    alice_client.post(f"/t/{t.id}/delete/")
    assert store.list_keys("") == []


@pytest.mark.django_db(transaction=True)
def test_an_inbox_drop_is_transcribed_under_the_policy(as_function, uploader, alice, settings):
    settings.TRANSCRIBE_RUNNER = "inline"
    key = "inbox/alice/Weekly sync.mp3"
    uploader.put_object(Bucket=BUCKET, Key=key, Body=fixture_path("speech.mp3").read_bytes())
    _deliver(key)
    t = Transcript.objects.get()
    _deliver(transcript_key(t.id))
    t.refresh_from_db()
    assert t.status == COMPLETED, t.error
    assert store.get_tags(key)["transcript-id"] == str(t.id)
    assert store.get_tags(key)["status"] == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_rejected_drop_is_tagged_under_the_policy(as_function, uploader, alice):
    key = "inbox/nobody/x.mp3"
    uploader.put_object(Bucket=BUCKET, Key=key, Body=fixture_path("speech.mp3").read_bytes())
    _deliver(key)
    assert store.get_tags(key)["status"] == "rejected"


@pytest.mark.django_db(transaction=True)
def test_long_audio_split_into_part_tasks_works_under_the_policy(
    as_function, alice_client, post_upload, settings, tmp_path
):
    """Parts are cut, stored under work/, transcribed one @task each, merged, and cleared."""
    settings.TRANSCRIBE_RUNNER = "lambda"  # off Lambda, Zappa runs each @task inline
    settings.CHUNK_TASK_THRESHOLD_SECONDS = 30
    settings.CHUNK_LOCAL_WINDOW_SECONDS = 20
    path = tmp_path / "long.ogg"
    long_speech_opus(str(path), 58)
    response = post_upload({"audio": SimpleUploadedFile(path.name, path.read_bytes()), "title": "Long"})
    assert response.status_code == 302
    t = Transcript.objects.get()
    _deliver(transcript_key(t.id))
    t.refresh_from_db()
    assert t.status == COMPLETED, t.error
    assert len(t.segments) >= 3
    assert store.list_keys(f"work/{t.id}/") == [], store.list_keys(f"work/{t.id}/")
