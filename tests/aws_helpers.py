"""Shared pieces for the AWS tests: moto S3 wired into Django settings, Zappa's
own handler built from `zappa save-python-settings-file dev`, and events shaped
the way S3, API Gateway and Zappa's async invoke shape them.

The fixtures are shared through conftest.py, which imports them: a test asks
for one by name.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote_plus, urlencode

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's account id, and the placeholder in zappa_settings.json
REGION = "us-east-1"
BUCKET = f"processed-transcripts-{ACCOUNT}-{REGION}"
DEPLOY_BUCKET = f"zappa-deploy-{ACCOUNT}-{REGION}"
FUNCTION = "meeting-noter-dev"
API_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"
WRITES = {"PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}


def zappa_stage(stage: str = "dev") -> dict:
    """A stage of zappa_settings.json with `extends` applied the way Zappa applies it."""
    settings = json.loads((ROOT / "zappa_settings.json").read_text())
    stage_settings = settings[stage]
    if "extends" in stage_settings:
        return {**zappa_stage(stage_settings["extends"]), **stage_settings}
    return stage_settings


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials: nothing here can reach AWS, and nothing should try."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def use_s3_storage(
    settings, endpoint_url: str | None = None, *, bucket: str = BUCKET, region: str = REGION
) -> None:
    """Point django-storages and transcripts.storage at `bucket` (moto)."""
    from transcripts import storage as store

    settings.TRANSCRIPTS_BUCKET = bucket
    settings.AWS_REGION = region
    settings.AWS_S3_ENDPOINT_URL = endpoint_url
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "region_name": region,
                "endpoint_url": endpoint_url,
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 600,
                "file_overwrite": False,
                "signature_version": "s3v4",
            },
        },
    }
    store.client.cache_clear()


@pytest.fixture
def s3(aws_credentials, settings):
    """moto in-process with the transcripts bucket; S3 storage switched on."""
    from transcripts import storage as store

    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        use_s3_storage(settings)
        yield client
    store.client.cache_clear()


@pytest.fixture
def moto_server(aws_credentials, settings):
    """moto's S3 server over HTTP on 127.0.0.1, S3 storage switched on: for tests where the wire matters."""
    from moto.server import ThreadedMotoServer

    from transcripts import storage as store

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    use_s3_storage(settings, endpoint_url=endpoint)
    yield client
    server.stop()
    store.client.cache_clear()


@pytest.fixture
def s3_calls(monkeypatch):
    """Every S3 API call any boto3 client makes: (operation, Key)."""
    import botocore.client

    calls: list[tuple[str, str]] = []
    lock = threading.Lock()
    real = botocore.client.BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        if self.meta.service_model.service_name == "s3":
            with lock:
                calls.append((operation_name, api_params.get("Key", "")))
        return real(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return calls


def s3_record(key: str, *, bucket: str = BUCKET, size: int = 0, etag: str = "", event: str = "Put") -> dict:
    """One record as S3 sends it: the key URL-encoded (space → '+', '(' → '%28',
    UTF-8 percent-encoded), and Zappa's notification Id (the function name)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-11-23T21:00:00.000Z",
        "eventName": f"ObjectCreated:{event}",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": FUNCTION,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": quote_plus(key, safe="/"),
                "size": size,
                "eTag": etag,
                "sequencer": "0055AED6DCD90281E5",
            },
        },
    }


def s3_event(*keys: str, **kwargs) -> dict:
    return {"Records": [s3_record(key, **kwargs) for key in keys]}


def s3_test_event(bucket: str = BUCKET) -> dict:
    """What S3 sends once when a notification is configured."""
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-23T21:00:00.000Z",
        "Bucket": bucket,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name=FUNCTION,
        aws_request_id=str(uuid.uuid4()),
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}",
        get_remaining_time_in_millis=lambda: 900_000,
    )


def api_event(
    method: str, path: str, *, cookies: dict[str, str], form: dict | None = None, headers=None
) -> dict:
    """An API Gateway (REST, proxy integration) request as Lambda receives it."""
    body = urlencode(form) if form is not None else None
    all_headers = {
        "Host": API_HOST,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
        "X-Forwarded-For": "203.0.113.9",
        "User-Agent": "pytest",
        "Accept": "text/html,application/json",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        **(headers or {}),
    }
    if body is not None:
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/dev{path}",
            "stage": "dev",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "pytest"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.fixture(scope="session")
def zappa_settings_dir(tmp_path_factory) -> Path:
    """`zappa save-python-settings-file dev`, run for real on zappa_settings.json."""
    out = tmp_path_factory.mktemp("zappa") / "zappa_settings.py"
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    subprocess.run(
        [str(Path(sys.executable).parent / "zappa"), "save-python-settings-file", "dev", "-o", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return out.parent


@pytest.fixture
def zappa_handler(zappa_settings_dir, s3, settings, monkeypatch):
    """A fresh `zappa.handler.LambdaHandler` loading the generated settings, the
    way Lambda's bootstrap does (`import zappa_settings`), with the stage's
    remote_env file in (moto) S3. The environment it sets is undone afterwards."""
    from django.urls import clear_script_prefix
    from zappa.handler import LambdaHandler

    monkeypatch.syspath_prepend(str(zappa_settings_dir))
    sys.modules.pop("zappa_settings", None)
    zappa_settings = importlib.import_module("zappa_settings")
    s3.create_bucket(Bucket=DEPLOY_BUCKET)
    remote = zappa_settings.REMOTE_ENV.removeprefix(f"s3://{DEPLOY_BUCKET}/")
    s3.put_object(Bucket=DEPLOY_BUCKET, Key=remote, Body=json.dumps({"SECRET_KEY": "from-remote-env"}))
    env = zappa_settings.ENVIRONMENT_VARIABLES
    settings.ALLOWED_HOSTS = env["ALLOWED_HOSTS"].split(",")
    settings.STATIC_URL = env["STATIC_URL"]
    settings.FORCE_SCRIPT_NAME = env["FORCE_SCRIPT_NAME"]
    saved = dict(os.environ)
    monkeypatch.setattr(LambdaHandler, "_LambdaHandler__instance", None)
    monkeypatch.setattr(LambdaHandler, "settings", None)
    handler = LambdaHandler("zappa_settings")
    handler.loaded_env = {k: os.environ.get(k) for k in ("SECRET_KEY", "TRANSCRIPTS_BUCKET", "AWS_REGION")}
    yield handler
    os.environ.clear()
    os.environ.update(saved)
    # Django keeps the last request's script prefix (/dev/) in a thread-local.
    clear_script_prefix()
    sys.modules.pop("zappa_settings", None)


def invoke(handler, event: dict):
    """Lambda's entry point (`handler.lambda_handler`): exceptions go through the
    stage's exception_handler, which decides whether Lambda retries."""
    from zappa.handler import LambdaHandler

    return LambdaHandler.lambda_handler(event, lambda_context())


@pytest.fixture
def async_invokes(monkeypatch, settings):
    """Zappa's `@task` as on Lambda (AWS_LAMBDA_FUNCTION_NAME set, runner "lambda"),
    with the async invoke captured: each payload is what Lambda would deliver."""
    import zappa.asynchronous

    sent: list[dict] = []

    def capture(self, message):
        message["command"] = "zappa.asynchronous.route_lambda_task"
        payload = json.dumps(message)
        assert len(payload) <= zappa.asynchronous.LAMBDA_ASYNC_PAYLOAD_LIMIT
        sent.append(json.loads(payload))
        self.sent = True

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.setattr(zappa.asynchronous, "LAMBDA_CLIENT", None, raising=False)
    monkeypatch.setattr(zappa.asynchronous.LambdaAsyncResponse, "_send", capture)
    settings.TRANSCRIBE_RUNNER = "lambda"
    return sent


def deliver_all(handler, payloads: list[dict]) -> list:
    """Run queued async invokes (Zappa @task payloads) through the handler, in
    order, including any they queue themselves, as Lambda's async queue would."""
    out = []
    while payloads:
        out.append(invoke(handler, payloads.pop(0)))
    return out
