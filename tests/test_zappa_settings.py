"""zappa_settings.json, as Zappa itself reads it: stages, the one S3 event
source, and Zappa's own event-source code run against moto."""

from __future__ import annotations

import inspect
import io
import json
import re
import zipfile
from collections import Counter
from types import SimpleNamespace

import boto3
import moto.s3.notifications
import pytest
from moto import mock_aws
from zappa.handler import LambdaHandler
from zappa.utilities import add_event_source, import_and_get_function

from transcripts import arrivals, models

from . import aws_helpers
from .aws_helpers import ACCOUNT, FUNCTION, REGION, invoke, s3_record, zappa_stage

SECRETS = {"SECRET_KEY", "DATABASE_URL", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}


@pytest.mark.parametrize("stage", ["dev", "production"])
def test_each_stage_is_complete(stage):
    config = zappa_stage(stage)
    assert config["django_settings"] == "project.settings"
    assert config["runtime"] == "python3.11"
    assert config["async_source"] == "lambda"
    assert config["binary_support"] is True and config["keep_warm"] is True
    assert 60 <= config["timeout_seconds"] <= 900
    assert 1024 <= config["memory_size"] <= 10240
    assert not config.get("slim_handler")  # the package fits; slim_handler would need the network to build
    env = config["environment_variables"]
    assert not SECRETS & set(env) and not SECRETS & set(config.get("aws_environment_variables", {}))
    # The worker renews its lease while it runs, however long Whisper takes
    # (transcripts/pipeline/lease.py), so the lease only sets how long the row of a
    # dead invocation (a timeout, a crash) waits for the sweep: minutes, not an age.
    assert 60 <= int(env["TRANSCRIBE_LEASE_SECONDS"]) <= 1800


@pytest.mark.parametrize("stage", ["dev", "production"])
def test_the_bucket_is_the_named_pattern_and_has_one_s3_source(stage):
    config = zappa_stage(stage)
    bucket = config["environment_variables"]["TRANSCRIPTS_BUCKET"]
    assert bucket == f"processed-transcripts-{ACCOUNT}-{config['aws_region']}"
    assert re.fullmatch(r"processed-transcripts-\d{12}-[a-z]{2}-[a-z]+-\d", bucket)
    s3_sources = [
        e for e in config["events"] if e.get("event_source", {}).get("arn", "").startswith("arn:aws:s3")
    ]
    assert s3_sources == [
        {
            "function": "workers.events.route",
            "event_source": {"arn": f"arn:aws:s3:::{bucket}", "events": ["s3:ObjectCreated:*"]},
        }
    ]


@pytest.mark.parametrize("stage", ["dev", "production"])
def test_every_function_zappa_calls_exists_with_an_event_context_signature(stage):
    config = zappa_stage(stage)
    names = [e["function"] for e in config["events"]] + [config["exception_handler"]]
    for name in names:
        params = list(inspect.signature(import_and_get_function(name)).parameters)
        assert params in (["event", "context"], ["exception", "event", "context"]), name
    schedules = [e for e in config["events"] if "expression" in e]
    assert schedules == [{"function": "workers.sweeper.recover_stale", "expression": "rate(5 minutes)"}]


def test_the_generated_python_settings_route_the_bucket_to_the_router(zappa_settings_dir):
    text = (zappa_settings_dir / "zappa_settings.py").read_text()
    namespace: dict = {}
    exec(text, namespace)
    bucket = f"processed-transcripts-{ACCOUNT}-{REGION}"
    assert namespace["AWS_EVENT_MAPPING"] == {f"arn:aws:s3:::{bucket}": ["workers.events.route"]}
    assert namespace["EXCEPTION_HANDLER"] == "workers.errors.exception_handler"
    assert namespace["DJANGO_SETTINGS"] == "project.settings"
    assert namespace["ENVIRONMENT_VARIABLES"]["TRANSCRIPTS_BUCKET"] == bucket
    assert namespace["REMOTE_ENV"].startswith("s3://zappa-deploy-")


def _configure_bucket(session, events: list[dict]) -> dict:
    """What `zappa deploy|schedule` does for each `events` entry with an event_source."""
    role = session.client("iam").create_role(RoleName="zappa-test", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    lambda_arn = session.client("lambda").create_function(
        FunctionName=FUNCTION,
        Runtime="python3.11",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": _empty_zip()},
    )["FunctionArn"]
    for event in events:
        add_event_source(event["event_source"], lambda_arn, event["function"], session)
    bucket = events[0]["event_source"]["arn"].split(":::")[-1]
    policy = json.loads(session.client("lambda").get_policy(FunctionName=FUNCTION)["Policy"])
    assert {st["Principal"]["Service"] for st in policy["Statement"]} == {"s3.amazonaws.com"}
    return session.client("s3").get_bucket_notification_configuration(Bucket=bucket)


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    return buf.getvalue()


@pytest.mark.django_db
def test_zappas_own_event_source_code_makes_one_notification_and_each_prefix_reaches_its_worker_once(
    zappa_handler, s3, monkeypatch
):
    config = zappa_stage("dev")
    s3_events = [e for e in config["events"] if "event_source" in e]
    notification = _configure_bucket(boto3.Session(region_name=REGION), s3_events)
    [only] = notification["LambdaFunctionConfigurations"]
    assert only["Id"] == FUNCTION and only["Events"] == ["s3:ObjectCreated:*"] and "Filter" not in only

    # moto matches each new object against that configuration and builds the
    # event S3 would send; "Lambda" here delivers it to Zappa's handler.
    delivered = []
    monkeypatch.setattr(
        moto.s3.notifications, "_invoke_awslambda", lambda acct, body, arn, region: delivered.append(body)
    )
    reached = Counter()
    monkeypatch.setattr(arrivals, "audio_arrived", lambda key: reached.update([("arrivals", key)]))
    monkeypatch.setattr(models, "record_result", lambda key: reached.update([("results", key)]))
    keys = {
        "audio/0b7f1a52-3c0e-4c61-9b8e-2a7d0c5e4b18/talk (1).mp3": "arrivals",
        "inbox/alice/Réunion équipe.m4a": "arrivals",
        "transcripts/0b7f1a52-3c0e-4c61-9b8e-2a7d0c5e4b18.json": "results",
        "elsewhere/notes.txt": None,
    }
    bucket = config["environment_variables"]["TRANSCRIPTS_BUCKET"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_object_tagging(
        Bucket=bucket, Key="inbox/alice/Réunion équipe.m4a", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    assert len(delivered) == len(keys)  # one event per object; tagging sends none
    for body in delivered:
        invoke(zappa_handler, json.loads(json.dumps(body)))
    assert reached == Counter({(worker, key): 1 for key, worker in keys.items() if worker})


def test_two_event_entries_on_one_bucket_would_break(s3):
    """The Zappa 0.63 trap this design avoids: notifications share the function's
    name as Id, so the second entry replaces the first, and Zappa's handler maps
    the bucket ARN to both functions, so each event would run both."""
    bucket = zappa_stage("dev")["environment_variables"]["TRANSCRIPTS_BUCKET"]
    arn = f"arn:aws:s3:::{bucket}"
    naive = [
        {
            "function": "workers.arrivals.handler",
            "event_source": {"arn": arn, "prefix": "audio/", "events": ["s3:ObjectCreated:*"]},
        },
        {
            "function": "workers.results.handler",
            "event_source": {"arn": arn, "prefix": "transcripts/", "events": ["s3:ObjectCreated:*"]},
        },
    ]
    notification = _configure_bucket(boto3.Session(region_name=REGION), naive)
    rules = [c["Filter"]["Key"]["FilterRules"] for c in notification["LambdaFunctionConfigurations"]]
    assert [[(r["Name"].lower(), r["Value"]) for r in rule] for rule in rules] == [
        [("prefix", "transcripts/")]
    ]
    # ...and an audio/ event, had it been delivered, would run both functions.
    handler = SimpleNamespace(
        settings=SimpleNamespace(AWS_EVENT_MAPPING={arn: [e["function"] for e in naive]})
    )
    record = s3_record("audio/x/talk.mp3", bucket=bucket)
    assert LambdaHandler.get_function_for_aws_event(handler, record) == [e["function"] for e in naive]


@pytest.mark.parametrize("stage", ["dev", "production"])
def test_allowed_hosts_name_one_deployment_never_a_whole_region(stage):
    hosts = zappa_stage(stage)["environment_variables"]["ALLOWED_HOSTS"].split(",")
    assert hosts and not [h for h in hosts if h.startswith((".", "*")) or "*" in h]
    region = zappa_stage(stage)["aws_region"]
    assert all(h.endswith(f".execute-api.{region}.amazonaws.com") for h in hosts)


@pytest.mark.parametrize(
    "host",
    [
        "someoneelse1.execute-api.us-east-1.amazonaws.com",  # another API in the same region
        "execute-api.us-east-1.amazonaws.com",
        "abc123defg.execute-api.us-east-1.amazonaws.com.evil.example",
    ],
)
def test_only_the_deployments_own_host_is_served(client, settings, host):
    settings.ALLOWED_HOSTS = zappa_stage("dev")["environment_variables"]["ALLOWED_HOSTS"].split(",")
    assert client.get("/accounts/login/", HTTP_HOST=host).status_code == 400
    own = "abc123defg.execute-api.us-east-1.amazonaws.com"
    assert client.get("/", HTTP_HOST=own).status_code == 302


def test_the_bucket_name_follows_the_account_it_is_deployed_to():
    """moto's STS answers with the same placeholder account id zappa_settings.json uses;
    docs/aws.md shows how to substitute the real one."""
    with mock_aws():
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    assert account == ACCOUNT
    assert zappa_stage("production")["environment_variables"]["TRANSCRIPTS_BUCKET"].split("-")[2] == account


def test_the_iam_policy_grants_the_function_only_what_it_uses():
    policy = json.loads((aws_helpers.ROOT / "deploy" / "iam-policy.json").read_text())
    config = zappa_stage("production")
    bucket = config["environment_variables"]["TRANSCRIPTS_BUCKET"]
    grants = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if a.endswith("*")], statement
        grants.setdefault(statement["Resource"], set()).update(actions)
    objects = f"arn:aws:s3:::{bucket}"
    assert (
        "s3:PutObject" in grants[f"{objects}/audio/*"]
        and "s3:PutObject" in grants[f"{objects}/transcripts/*"]
    )
    assert "s3:PutObject" not in grants[f"{objects}/inbox/*"]  # drops are only read, tagged, deleted
    # Long audio keeps its parts under work/ while they are transcribed (test_iam_enforced.py
    # runs every worker path with exactly this policy).
    assert grants[f"{objects}/work/*"] == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert not [
        r
        for r in grants
        if r.startswith(objects)
        and r not in {objects, *(f"{objects}/{p}*" for p in ("audio/", "inbox/", "transcripts/", "work/"))}
    ]
    function = f"arn:aws:lambda:{config['aws_region']}:{ACCOUNT}:function:meeting-noter-production"
    assert grants[function] == {"lambda:InvokeFunction"}
    remote_env = config["remote_env"].replace("s3://", "arn:aws:s3:::")
    assert grants[remote_env] == {"s3:GetObject"}
    assert config["manage_roles"] is False and config["role_name"] == "meeting-noter-production-lambda"
