"""Signed webhooks, delivered over HTTP to a receiver on 127.0.0.1 that checks the
signature the way the README tells receivers to, and fails before it accepts."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.utils import timezone

from transcripts.api import webhooks
from transcripts.api.models import (
    DELIVERED,
    GAVE_UP,
    PENDING,
    SENDING,
    ApiKey,
    WebhookDelivery,
    WebhookEndpoint,
)
from transcripts.models import COMPLETED, FAILED, PROCESSING, Transcript
from transcripts.pipeline.dispatch import recover_stale
from transcripts.pipeline.run import run
from workers import sweeper

from . import aws_helpers
from .conftest import upload_file


class Receiver:
    """Answers 500 to the first `failures` valid requests, then 200; refuses bad signatures."""

    def __init__(self, failures: int = 2):
        self.failures, self.secret = failures, ""
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                valid = receiver.verify(self.headers.get("Meeting-Noter-Signature", ""), body)
                receiver.requests.append({"valid": valid, "headers": dict(self.headers)})
                if not valid:
                    status = 400
                elif len(receiver.requests) <= receiver.failures:
                    status = 500
                else:
                    status = 200
                    receiver.accepted.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verify(self, header: str, body: bytes) -> bool:
        # Written from the README, not from webhooks.py: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">.
        parts = dict(p.split("=", 1) for p in header.split(","))
        expected = hmac.new(
            self.secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        fresh = abs(time.time() - int(parts["t"])) < 300
        return fresh and hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_FIRST_RETRY_SECONDS = 0.05
    r = Receiver()
    yield r
    r.server.shutdown()


def register(client, url: str) -> str:
    page = client.post("/settings/api/", {"hook-url": url})
    assert page.status_code == 200, page.content
    return page.context["shown"]["secret"]


@pytest.mark.django_db(transaction=True)
def test_a_completed_transcript_is_delivered_once_after_two_failures(alice, alice_client, receiver):
    receiver.secret = register(alice_client, receiver.url)
    _, key = ApiKey.issue(alice)
    created = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
        "/api/v1/transcripts", {"audio": upload_file("speech.mp3")}
    )
    t = Transcript.objects.get(id=created.json()["id"])
    assert t.status == COMPLETED
    assert [r["valid"] for r in receiver.requests] == [True, True, True]
    assert len(receiver.accepted) == 1
    event = receiver.accepted[0]
    assert event["type"] == "transcript.completed"
    assert (event["data"]["id"], event["data"]["status"], event["data"]["error"]) == (
        str(t.id),
        COMPLETED,
        "",
    )
    assert event["data"]["links"]["self"] == f"http://testserver/api/v1/transcripts/{t.id}/"
    assert event["data"]["links"]["exports"]["srt"].endswith(f"/api/v1/transcripts/{t.id}/export/srt")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DELIVERED, 3, 200)
    assert receiver.requests[0]["headers"]["Meeting-Noter-Delivery"] == event["id"] == str(delivery.id)

    # A duplicate trigger (S3 delivers events twice) sends nothing more.
    t.apply_result({"text": "again"})
    webhooks.on_finish(Transcript, transcript=t)
    assert len(receiver.requests) == 3 and WebhookDelivery.objects.count() == 1

    page = alice_client.get("/settings/api/").content.decode()
    assert "transcript.completed" in page and receiver.url in page and "Delivered" in page


@pytest.mark.django_db(transaction=True)
def test_a_callback_url_gets_its_own_secret_and_the_events_of_its_transcript(alice, receiver, monkeypatch):
    receiver.failures = 0
    monkeypatch.setattr("transcripts.signals.dispatch", lambda transcript_id: None)  # the worker starts later
    _, key = ApiKey.issue(alice)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    ids, secrets = [], []
    for _ in range(2):
        response = api.post(
            "/api/v1/transcripts", {"audio": upload_file("speech.mp3"), "callback_url": receiver.url}
        )
        assert response.status_code == 201 and response.json()["callback_secret"].startswith("whsec_")
        ids.append(response.json()["id"])
        secrets.append(response.json()["callback_secret"])
    assert secrets[0] != secrets[1]
    assert api.get(f"/api/v1/transcripts/{ids[0]}/").json()["callback_secret"] is None  # shown once
    receiver.secret = secrets[0]
    assert run(ids[0]) == "completed"
    assert [r["valid"] for r in receiver.requests] == [True]
    assert (
        receiver.accepted[0]["type"] == "transcript.completed"
        and receiver.accepted[0]["data"]["id"] == ids[0]
    )

    receiver.secret = secrets[1]
    Transcript.objects.filter(id=ids[1]).update(status="processing")
    Transcript.objects.get(id=ids[1]).fail("The audio stopped after 2 seconds.")
    event = receiver.accepted[-1]
    assert len(receiver.accepted) == 2 and event["type"] == "transcript.failed"
    assert (event["data"]["id"], event["data"]["status"]) == (ids[1], FAILED)
    assert event["data"]["error"] == "The audio stopped after 2 seconds."


@pytest.mark.django_db(transaction=True)
def test_delivery_gives_up_after_the_retry_time_and_records_it(alice, alice_client, receiver, settings):
    receiver.failures = 10**6
    settings.WEBHOOK_RETRY_SECONDS = 0.5
    receiver.secret = register(alice_client, receiver.url)
    t = Transcript.objects.create(owner=alice, title="x", status="processing")
    t.fail("Broken audio.")
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == GAVE_UP and 2 <= delivery.attempts <= 5 and delivery.last_status_code == 500
    assert len(receiver.requests) == delivery.attempts


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "not a url",
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused(url, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    assert webhooks.url_problem(url)


def test_an_administrator_can_allow_a_network(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert webhooks.url_problem("http://127.0.0.1:9/hook") == ""
    assert webhooks.url_problem("http://10.0.0.5/")


@pytest.mark.django_db
def test_a_refused_callback_url_is_a_400_and_creates_nothing(alice, alice_client, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    _, key = ApiKey.issue(alice)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
        "/api/v1/transcripts", {"audio": upload_file("speech.mp3"), "callback_url": "http://169.254.169.254/"}
    )
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["callback_url"]
    page = alice_client.post("/settings/api/", {"hook-url": "http://127.0.0.1/"})
    assert page.status_code == 400 and "may not go to 127.0.0.1" in page.content.decode()
    assert not Transcript.objects.exists() and not WebhookEndpoint.objects.exists()


def test_verify_accepts_its_own_signature_and_refuses_replays_and_tampering():
    body = b'{"id": "x"}'
    header = webhooks.sign("whsec_s", body)
    assert webhooks.verify("whsec_s", header, body)
    assert not webhooks.verify("whsec_s", header, body + b" ")
    assert not webhooks.verify("whsec_other", header, body)
    assert not webhooks.verify("whsec_s", webhooks.sign("whsec_s", body, int(time.time()) - 600), body)


@pytest.mark.django_db(transaction=True)
def test_on_lambda_delivery_is_its_own_task(alice, receiver, zappa_handler, async_invokes):
    receiver.failures = 0
    endpoint = WebhookEndpoint.objects.create(owner=alice, url=receiver.url, secret="whsec_l")
    receiver.secret = endpoint.secret
    t = Transcript.objects.create(owner=alice, title="x", status="processing")
    t.fail("Broken audio.")
    assert receiver.requests == []  # nothing sent inside the caller
    assert [p["task_path"] for p in async_invokes] == ["transcripts.api.webhooks.deliver_task"]
    assert aws_helpers.deliver_all(zappa_handler, async_invokes) == [DELIVERED]
    assert len(receiver.accepted) == 1 and receiver.accepted[0]["type"] == "transcript.failed"


def _stuck_in_processing(owner, settings) -> Transcript:
    """A row whose worker died on its last allowed attempt: the sweep gives up on it."""
    past = timezone.now() - timedelta(minutes=1)
    return Transcript.objects.create(
        owner=owner,
        title="stuck",
        status=PROCESSING,
        attempts=settings.TRANSCRIBE_MAX_ATTEMPTS,
        lease_expires_at=past,
    )


@pytest.mark.django_db(transaction=True)
def test_a_transcript_the_sweep_gives_up_on_sends_one_signed_failed_event(
    alice, alice_client, receiver, settings
):
    receiver.failures = 0
    receiver.secret = register(alice_client, receiver.url)
    t = _stuck_in_processing(alice, settings)

    # The Lambda schedule's entry point, twice: the second sweep finds nothing to do.
    for _ in range(2):
        assert sweeper.recover_stale({"detail-type": "Scheduled Event"}, None) == {"recovered": []}

    t.refresh_from_db()
    assert t.status == FAILED and "interrupted" in t.error
    assert [r["valid"] for r in receiver.requests] == [True]
    event = receiver.accepted[0]
    assert event["type"] == "transcript.failed"
    assert (event["data"]["id"], event["data"]["status"], event["data"]["error"]) == (
        str(t.id),
        FAILED,
        t.error,
    )
    assert WebhookDelivery.objects.get().status == DELIVERED


@pytest.fixture
def abandoned(alice, receiver, monkeypatch):
    """A delivery claimed by a sender that then died: "sending", nobody working on it."""
    receiver.failures = 0
    endpoint = WebhookEndpoint.objects.create(owner=alice, url=receiver.url, secret="whsec_d")
    receiver.secret = endpoint.secret
    with monkeypatch.context() as m:
        m.setattr(webhooks, "send", lambda delivery_id: None)  # the sender never got to run
        Transcript.objects.create(owner=alice, title="x", status=PROCESSING).fail("Broken audio.")
    delivery = WebhookDelivery.objects.get()
    assert webhooks._claim(delivery.id) is not None  # the sender's claim; then it died
    return delivery


@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_sender_died_is_sent_again_once_its_lease_runs_out(abandoned, receiver):
    # Within the lease the sender may still be alive: the sweep leaves the delivery alone.
    assert recover_stale() == []
    assert receiver.requests == [] and WebhookDelivery.objects.get().status == SENDING

    WebhookDelivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert recover_stale() == [] and recover_stale() == []  # two sweeps: one claims it

    assert [r["valid"] for r in receiver.requests] == [True]
    assert len(receiver.accepted) == 1 and receiver.accepted[0]["type"] == "transcript.failed"
    assert receiver.accepted[0]["id"] == str(abandoned.id)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.lease_expires_at) == (DELIVERED, 1, None)


@pytest.mark.django_db(transaction=True)
def test_the_local_workers_sweep_recovers_a_delivery_stuck_in_sending(abandoned, receiver, local_worker):
    WebhookDelivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    local_worker.local_worker()  # its sweeper runs at once on start
    deadline = time.monotonic() + 20
    while WebhookDelivery.objects.get().status != DELIVERED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert WebhookDelivery.objects.get().status == DELIVERED
    assert len(receiver.accepted) == 1


@pytest.mark.django_db(transaction=True)
def test_a_sender_that_outlived_its_lease_stops_and_the_event_is_accepted_once(alice, receiver, settings):
    receiver.failures = 1
    settings.WEBHOOK_FIRST_RETRY_SECONDS = 1.0
    endpoint = WebhookEndpoint.objects.create(owner=alice, url=receiver.url, secret="whsec_s")
    receiver.secret = endpoint.secret
    with pytest.MonkeyPatch.context() as m:
        m.setattr(webhooks, "send", lambda delivery_id: None)
        Transcript.objects.create(owner=alice, title="x", status=PROCESSING).fail("Broken audio.")
    delivery_id = WebhookDelivery.objects.get().id
    outcome = []
    sender = threading.Thread(target=lambda: outcome.append(webhooks.deliver(delivery_id)))
    sender.start()
    while WebhookDelivery.objects.get().attempts < 1:  # its first try got a 500; it waits
        time.sleep(0.01)
    # It stalls past its lease (a frozen process): a sweep takes the delivery over.
    WebhookDelivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert webhooks.recover_stale_deliveries() == [str(delivery_id)]
    sender.join(10)
    assert outcome == ["taken over"]
    assert [r["valid"] for r in receiver.requests] == [True, True]  # a 500, then the sweep's 200
    assert len(receiver.accepted) == 1
    assert WebhookDelivery.objects.get().status == DELIVERED


def _queue_event(owner, receiver, secret: str) -> WebhookDelivery:
    """A failed transcript queues its event the way the code does; whether it is
    dispatched is up to the caller."""
    endpoint = WebhookEndpoint.objects.create(owner=owner, url=receiver.url, secret=secret)
    receiver.secret = endpoint.secret
    Transcript.objects.create(owner=owner, title="x", status=PROCESSING).fail("Broken audio.")
    return WebhookDelivery.objects.get()


def _make_due(delivery: WebhookDelivery) -> None:
    past = timezone.now() - timedelta(seconds=webhooks.PENDING_GRACE_SECONDS + 1)
    WebhookDelivery.objects.filter(id=delivery.id).update(created_at=past)


@pytest.fixture
def lost(alice, receiver, monkeypatch):
    """A delivery whose dispatch was lost (its process died before the pool ran it):
    "pending", never tried."""
    receiver.failures = 0
    with monkeypatch.context() as m:
        m.setattr(webhooks, "send", lambda delivery_id: None)
        delivery = _queue_event(alice, receiver, "whsec_p")
    assert delivery.status == PENDING and delivery.attempts == 0
    return delivery


@pytest.mark.django_db(transaction=True)
def test_a_pending_delivery_whose_dispatch_was_lost_is_sent_once_when_due(lost, receiver):
    # Just created: a live process would be about to send it, so the sweep leaves it alone.
    for _ in range(2):
        assert sweeper.recover_stale({"detail-type": "Scheduled Event"}, None) == {"recovered": []}
    assert receiver.requests == [] and WebhookDelivery.objects.get().status == PENDING

    _make_due(lost)
    for _ in range(2):  # two sweeps: one claims and sends it, the next finds it delivered
        assert sweeper.recover_stale({"detail-type": "Scheduled Event"}, None) == {"recovered": []}

    assert [r["valid"] for r in receiver.requests] == [True]
    assert len(receiver.accepted) == 1 and receiver.accepted[0]["id"] == str(lost.id)
    assert receiver.accepted[0]["type"] == "transcript.failed"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.lease_expires_at) == (DELIVERED, 1, None)


@pytest.mark.django_db(transaction=True)
def test_the_local_workers_pool_sends_a_lost_pending_delivery_once(lost, receiver, local_worker):
    _make_due(lost)
    assert recover_stale() == [] and recover_stale() == []  # the second finds it queued or claimed
    deadline = time.monotonic() + 20
    while WebhookDelivery.objects.get().status != DELIVERED and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # a second send, were there one, would have arrived by now
    assert WebhookDelivery.objects.get().status == DELIVERED
    assert [r["valid"] for r in receiver.requests] == [True] and len(receiver.accepted) == 1


@pytest.mark.django_db(transaction=True)
def test_on_lambda_a_sweep_racing_a_late_invoke_sends_once(alice, receiver, zappa_handler, async_invokes):
    receiver.failures = 0
    delivery = _queue_event(alice, receiver, "whsec_r")
    assert [p["task_path"] for p in async_invokes] == ["transcripts.api.webhooks.deliver_task"]
    # The invoke waits in Lambda's queue (throttled) past the grace: two sweeps each queue
    # the delivery again, and the three tasks race for one claim.
    _make_due(delivery)
    for _ in range(2):
        sweeper.recover_stale({"detail-type": "Scheduled Event"}, None)
    assert len(async_invokes) == 3
    assert aws_helpers.deliver_all(zappa_handler, async_invokes) == [DELIVERED, "skipped", "skipped"]
    assert [r["valid"] for r in receiver.requests] == [True] and len(receiver.accepted) == 1
    assert WebhookDelivery.objects.get().status == DELIVERED
