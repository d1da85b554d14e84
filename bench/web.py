"""Web benchmarks: the transcript list with 10,000 rows for one user (queries
per page, p95 latency ≤ 50 ms) and an upload's memory against its size.

    .venv/bin/python bench/web.py [--rows 10000] [--requests 200]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/web.py

Standalone: it sets up Django itself (project.settings, DEBUG off, a temporary
DATA_DIR holding a real SQLite file, migrate). With DATABASE_URL it runs the
list part on a throwaway test database on that server. Each upload is measured
in a fresh child process: the request body streams from a file on disk into
Django's WSGI handler, so the only thing that can grow is the server side.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, REPO, make_tone, median, p95, sentences, table  # noqa: E402

PAGE_SIZE = 25  # transcripts.views.transcript_list


def setup_django(data_dir: str, *, database_url: str | None) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    os.environ["DATA_DIR"] = data_dir
    os.environ.update(
        DEBUG="False",
        SECRET_KEY="bench-not-secret",
        SECURE_COOKIES="False",
        TRANSCRIBE_RUNNER="inline",
        LOG_LEVEL="WARNING",
    )
    for name in ("TRANSCRIPTS_BUCKET", "MEDIA_ROOT", "DATABASE_URL"):
        os.environ.pop(name, None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url

    import django
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()


def seed(rows: int, other_rows: int) -> tuple:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from transcripts.models import COMPLETED, FAILED, Transcript

    rng = random.Random(1)
    user = User.objects.create_user("bench", password="x")
    other = User.objects.create_user("other", password="x")
    now = timezone.now()
    batch = []
    for i in range(rows + other_rows):
        said = sentences(rng, 12)  # about 1 KB of text, two minutes of a meeting
        segments = [{"start": 5.0 * j, "end": 5.0 * j + 4.5, "text": s} for j, s in enumerate(said)]
        batch.append(
            Transcript(
                id=uuid.uuid4(),
                owner=user if i < rows else other,
                title=f"Meeting {i:05d}",
                status=FAILED if i % 50 == 0 else COMPLETED,
                audio=f"audio/{i}/meeting.mp3",
                duration=5.0 * len(said),
                language="en",
                text=" ".join(said),
                segments=segments,
                created_at=now - timedelta(minutes=i),
            )
        )
    Transcript.objects.bulk_create(batch, batch_size=500)
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does soon after a bulk load: fresh statistics, and the GIN
        # indexes' pending lists merged (without it the planner avoids the trigram indexes).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE transcripts_transcript")
    return user, other


def list_bench(rows: int, n_requests: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from transcripts.models import Transcript

    started = time.perf_counter()
    user, _other = seed(rows, rows // 10)
    print(
        f"seeded {Transcript.objects.count()} rows in {time.perf_counter() - started:.1f} s "
        f"({rows} for the measured user) on {connection.vendor}"
    )
    client = Client()
    client.force_login(user)
    last = -(-rows // PAGE_SIZE)
    cases = {
        "page 1": "/",
        "page 50": "/?page=50",
        f"page {last}": f"/?page={last}",
        "search q=budget": "/?q=budget",
        "search q=budget page 3": "/?q=budget&page=3",
        "search q=zebra (no hit)": "/?q=zebra",
    }
    rows_out = []
    for label, url in cases.items():
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(url)
        # Read now: the next request's request_started signal clears the query log.
        queries = len(ctx.captured_queries)
        assert r.status_code == 200, (url, r.status_code)
        shown = r.content.count(b'<td><a href="/t/')
        times = []
        for _ in range(10):  # warm-up
            client.get(url)
        for _ in range(n_requests):
            t0 = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
        rows_out.append([label, queries, shown, median(times), p95(times), max(times)])

    rng = random.Random(2)
    times = []
    for _ in range(n_requests):
        url = f"/?page={rng.randint(1, last)}"
        t0 = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append((time.perf_counter() - t0) * 1000)
    rows_out.append(["random page 1..last", "-", "-", median(times), p95(times), max(times)])

    print()
    print(table(["case", "queries", "rows shown", "p50 ms", "p95 ms", "max ms"], rows_out))
    # Listing: session, user, count, page. Searching: session, user, page (no count), so
    # a different constant; a list with no rows skips the page query.
    for kind in ("page", "search"):
        counts = {r[1] for r in rows_out if r[0].startswith(kind) and r[1] != "-" and r[2]}
        print(
            f"queries per {kind} with rows, whatever the page: {sorted(counts)} (constant: {len(counts) == 1})"
        )
    worst = max(r[4] for r in rows_out)
    print(f"worst p95: {worst:.1f} ms (target <= 50 ms over {n_requests} requests per case)")
    print("the queries for page 1:")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/")
    for q in ctx.captured_queries:
        print("   ", q["sql"][:160])


def _vm(field: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _multipart(audio: Path, dest: Path, token: str) -> tuple[str, int]:
    """Write a multipart/form-data body to `dest`, streaming the audio in."""
    boundary = "bench" + secrets.token_hex(8)
    with dest.open("wb") as out:
        for name, value in (("csrfmiddlewaretoken", token), ("title", audio.stem)):
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="{audio.name}"\r\n'
            "Content-Type: audio/wav\r\n\r\n".encode()
        )
        with audio.open("rb") as f:
            while chunk := f.read(2**20):
                out.write(chunk)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", dest.stat().st_size


def upload_child(megabytes: float) -> None:
    """One streamed upload in this fresh process; prints its memory as JSON."""
    from unittest import mock

    data_dir = tempfile.mkdtemp(prefix="bench-upload-")
    setup_django(data_dir, database_url=None)
    from django.contrib.auth.models import User
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.test import Client

    from transcripts.models import Transcript

    call_command("migrate", verbosity=0)
    client = Client()
    client.force_login(User.objects.create_user("bench", password="x"))
    session = client.cookies["sessionid"].value
    token = secrets.token_hex(16)  # a 32-character CSRF secret, sent as cookie and field
    handler = WSGIHandler()

    def post(audio: Path) -> tuple[str, float]:
        body = Path(data_dir) / "body.bin"
        content_type, length = _multipart(audio, body, token)
        status = []
        with body.open("rb") as stream:
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/upload/",
                "SCRIPT_NAME": "",
                "QUERY_STRING": "",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "80",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": "127.0.0.1",
                "HTTP_COOKIE": f"sessionid={session}; csrftoken={token}",
                "CONTENT_TYPE": content_type,
                "CONTENT_LENGTH": str(length),
                "wsgi.input": stream,
                "wsgi.errors": sys.stderr,
                "wsgi.url_scheme": "http",
                "wsgi.version": (1, 0),
                "wsgi.multithread": False,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
            }
            t0 = time.perf_counter()
            response = handler(environ, lambda s, h, exc_info=None: status.append(s))
            b"".join(response)
            response.close()
            elapsed = time.perf_counter() - t0
        body.unlink()
        return status[0], elapsed

    # Transcription is not what is measured here: the dispatch after commit does nothing.
    with mock.patch("transcripts.signals.dispatch"):
        post(REPO / "tests" / "fixtures" / "short.wav")  # rejected (too short), but warms every import
        audio = make_tone(OUT / f"tone-{megabytes:g}mb.wav", megabytes)
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        rss_before = _vm("VmRSS")
        tracemalloc.start()
        status, elapsed = post(audio)
        _current, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        hwm = _vm("VmHWM")
    t = Transcript.objects.get()
    stored = Path(data_dir) / "media" / t.audio.name
    print(
        json.dumps(
            {
                "mb": audio.stat().st_size / 2**20,
                "status": status,
                "seconds": elapsed,
                "rss_before": rss_before,
                "rss_peak_growth": hwm - rss_before,
                "tracemalloc_peak": traced_peak,
                "stored_bytes": stored.stat().st_size,
                "duration": t.duration,
            }
        )
    )
    import shutil

    shutil.rmtree(data_dir)


def upload_bench(sizes: list[float]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    results = []
    for mb in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--upload-child", str(mb)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    rows = [
        [
            f"{r['mb']:.0f} MB WAV ({r['duration'] / 60:.1f} min)",
            r["status"].split()[0],
            r["seconds"],
            r["rss_before"] / 2**20,
            r["rss_peak_growth"] / 2**20,
            r["tracemalloc_peak"] / 2**20,
        ]
        for r in results
    ]
    print()
    print(
        table(
            ["upload", "HTTP", "seconds", "RSS before MB", "peak RSS growth MB", "tracemalloc peak MB"], rows
        )
    )
    small, large = results[0], results[-1]
    print()
    print(
        f"file {large['mb'] / small['mb']:.0f}x larger: peak RSS growth "
        f"{small['rss_peak_growth'] / 2**20:.1f} -> {large['rss_peak_growth'] / 2**20:.1f} MB, "
        f"tracemalloc peak {small['tracemalloc_peak'] / 2**20:.2f} -> {large['tracemalloc_peak'] / 2**20:.2f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sizes", default="5,100", help="upload sizes in MB, comma-separated")
    parser.add_argument("--skip-uploads", action="store_true")
    parser.add_argument("--upload-child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upload_child:
        upload_child(args.upload_child)
        return

    database_url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="bench-web-") as data_dir:
        setup_django(data_dir, database_url=database_url)
        from django.core.management import call_command
        from django.db import connection

        if database_url:
            # A throwaway test_<name> database on that server, dropped afterwards.
            name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        else:
            call_command("migrate", verbosity=0)
            name = connection.settings_dict["NAME"]
        print(f"database: {connection.vendor} {name}")
        try:
            list_bench(args.rows, args.requests)
        finally:
            if database_url:
                connection.creation.destroy_test_db(name, verbosity=0)
    if not args.skip_uploads:
        upload_bench([float(s) for s in args.sizes.split(",")])


if __name__ == "__main__":
    main()
