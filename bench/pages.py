"""Page benchmarks for long transcripts: server time to render the detail and
edit pages of a 3-hour meeting (about 3,000 segments; target < 300 ms each),
with and without word timings, and of the largest import we accept
(transcripts.imports.MAX_CUES cues). Also the time to save edits to it.

    .venv/bin/python bench/pages.py [--segments 3000] [--requests 20]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/pages.py

Server time is the Django test client's request → response through the whole
middleware stack and the database (a real SQLite file, or PostgreSQL), without
a network; DEBUG off, as served.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median, p95, sentences, table  # noqa: E402
from bench.web import setup_django  # noqa: E402


def meeting(n: int, rng: random.Random, *, words: bool) -> list[dict]:
    """n segments of about 3.6 s each, as Whisper gives a meeting."""
    said = []
    while len(said) < n:
        said += sentences(rng, 50)
    segments = []
    for i, text in enumerate(said[:n]):
        start = round(3.6 * i, 3)
        seg = {"start": start, "end": round(start + 3.4, 3), "text": text}
        if words:
            parts = text.split()
            step = 3.4 / len(parts)
            seg["words"] = [
                {
                    "start": round(start + j * step, 3),
                    "end": round(start + (j + 1) * step, 3),
                    "word": f" {w}",
                }
                for j, w in enumerate(parts)
            ]
        segments.append(seg)
    return segments


def timed(client, method: str, url: str, n: int, data: dict | None = None) -> tuple[list, list, int, int]:
    """Wall and CPU seconds per request. CPU time is this process's (SQLite runs
    in it), and much less sensitive than wall time to a machine shared with others."""
    times, cpu, size, status = [], [], 0, 0
    for i in range(n + 2):
        t0, c0 = time.perf_counter(), time.process_time()
        r = client.post(url, data) if method == "POST" else client.get(url)
        elapsed, used = time.perf_counter() - t0, time.process_time() - c0
        if i >= 2:  # two warm-up requests
            times.append(elapsed)
            cpu.append(used)
        size, status = len(r.content), r.status_code
    return times, cpu, size, status


OLD_LOOP = """{% load transcript_tags %}{% for s in segments %}
<li class="segment" data-start="{{ s.start }}" data-end="{{ s.end }}" tabindex="0">
  {% if timestamps %}<span class="time">{{ s.start|clock }}</span>{% endif %}
  <span class="text">{{ s.text }}</span>
</li>{% endfor %}"""


def loop_vs_tag(segments: list[dict], n: int) -> tuple[float, float]:
    """The segment list as the template loop the page used before, and as the
    tag it uses now: (loop ms, tag ms), medians, interleaved."""
    from django.template import Context, Template

    from transcripts.templatetags.transcript_tags import segment_items

    loop = Template(OLD_LOOP)
    loops, tags = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        loop.render(Context({"segments": segments, "timestamps": True}))
        loops.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        segment_items(segments, True)
        tags.append(time.perf_counter() - t0)
    return median(loops) * 1000, median(tags) * 1000


def run(n_segments: int, n_requests: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from transcripts.imports import MAX_CUES
    from transcripts.models import COMPLETED, Transcript

    rng = random.Random(3)
    user = User.objects.create_user("bench", password="x")
    client = Client()
    client.force_login(user)
    cases = [
        (f"{n_segments} segments (3 h)", meeting(n_segments, rng, words=False), False),
        (f"{n_segments} segments + word timings", meeting(n_segments, rng, words=True), True),
        (f"{MAX_CUES} segments (import limit)", meeting(MAX_CUES, rng, words=False), False),
    ]
    rows = []
    for label, segments, words in cases:
        t = Transcript.objects.create(
            owner=user,
            title=label,
            status=COMPLETED,
            segments=segments,
            text=" ".join(s["text"] for s in segments),
            duration=segments[-1]["end"],
            word_timestamps=words,
        )
        for page, url in (("detail", f"/t/{t.id}/"), ("edit", f"/t/{t.id}/edit/")):
            times, cpu, size, status = timed(client, "GET", url, n_requests)
            assert status == 200, (url, status)
            rows.append(
                [label, page, median(times) * 1000, p95(times) * 1000, median(cpu) * 1000, size / 1024]
            )
        edits = {str(i): f"Fixed line {i}." for i in range(0, len(segments), 10)}
        data = {"edits": json.dumps(edits)}
        times, cpu, _size, status = timed(client, "POST", f"/t/{t.id}/edit/", max(3, n_requests // 4), data)
        assert status == 302, status
        rows.append(
            [
                label,
                f"save {len(edits)} edits",
                median(times) * 1000,
                p95(times) * 1000,
                median(cpu) * 1000,
                0.0,
            ]
        )
    print(f"database: {connection.vendor}; {n_requests} requests per page after 2 warm-ups")
    print(table(["transcript", "page", "median ms", "p95 ms", "median CPU ms", "KB"], rows))
    loop_ms, tag_ms = loop_vs_tag(cases[0][1], n_requests)
    print(
        f"\nsegment list of {n_segments}: template loop (before) {loop_ms:.1f} ms, "
        f"segment_items tag {tag_ms:.1f} ms, ratio {loop_ms / tag_ms:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as data_dir:
        setup_django(data_dir, database_url=database_url)
        from django.core.management import call_command
        from django.db import connection

        if database_url:
            name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        else:
            call_command("migrate", verbosity=0)
        try:
            run(args.segments, args.requests)
        finally:
            if database_url:
                connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
