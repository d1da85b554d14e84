"""The web process through real transcriptions: its peak memory on long speech, and
what TRANSCRIBE_WORKERS gains.

    .venv/bin/python bench/web_transcribe.py memory --model var/models/whisper-base --lengths 10min 1h
    .venv/bin/python bench/web_transcribe.py workers --model var/models/whisper-base --jobs 4 --rounds 3

The product runs as it is served: scripts/serve (migrate, collectstatic, gunicorn
with one process and its threads, DEBUG off), whose project/wsgi.py starts the
local worker, with a temporary DATA_DIR (SQLite) and a free port. A user and an API
key are made with manage.py; the audio goes through POST /api/v1/transcripts and
the bench polls the transcript until it is completed. What is measured is the
gunicorn worker process, the one that serves requests and transcribes.

`memory`: a fresh server per case; its VmRSS is sampled every 0.5 s and its VmHWM
read at the end. The speech is bench/memory.py's (espeak-ng reading public-domain
prose, repeated to length), and the WER is against that reading.

`workers`: one server per TRANSCRIBE_WORKERS value, both started and warmed (every
replica loaded) before the rounds. In each round every server is given the same
N jobs at once (different 2-minute speech files); the order of the servers
alternates between rounds, and the ratios are taken within a round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, REPO, free_port, make_speech, table  # noqa: E402


class Server:
    """scripts/serve in a temporary DATA_DIR, with one user and an API key."""

    def __init__(self, model: str, workers: int, log_name: str):
        self.data_dir = Path(tempfile.mkdtemp(prefix="bench-webtx-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        drop = ("DATABASE_URL", "TRANSCRIPTS_BUCKET", "OPENAI_API_KEY", "TRANSCRIBE_RUNNER", "MEDIA_ROOT")
        self.env = {k: v for k, v in os.environ.items() if k not in drop and k != "TRANSCRIBE_ENGINE"}
        self.env.update(
            PY=sys.executable,
            HOST=f"127.0.0.1:{self.port}",
            DATA_DIR=str(self.data_dir),
            DEBUG="False",
            WHISPER_MODEL=model,
            TRANSCRIBE_WORKERS=str(workers),
            LOG_LEVEL="WARNING",
        )
        self.log = (OUT / log_name).open("w")
        # The script execs gunicorn, so this pid is gunicorn's master.
        self.proc = subprocess.Popen(
            [str(REPO / "scripts" / "serve")],
            env=self.env,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{self.base}/accounts/login/", timeout=10).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the server did not start; see {self.log.name}")
            time.sleep(0.3)
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert len(children) == 1, children  # --workers 1
        self.pid = int(children[0])
        manage = [sys.executable, "manage.py"]
        run = {"env": self.env, "cwd": REPO, "check": True, "capture_output": True, "text": True}
        script = (
            "from django.contrib.auth.models import User; User.objects.create_user('bench', password='x')"
        )
        subprocess.run([*manage, "shell", "-c", script], **run)
        key = subprocess.run([*manage, "apikey", "create", "bench"], **run).stdout.strip()
        self.http = requests.Session()
        # A fresh connection per request: a poll every few seconds races gunicorn's 2 s keep-alive.
        self.http.headers.update(Authorization=f"Bearer {key}", Connection="close")

    def status(self, field: str) -> int:
        """A /proc/<worker>/status figure in bytes (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def upload(self, path: Path) -> tuple[str, float]:
        sent = time.time()
        with path.open("rb") as f:
            r = self.http.post(
                f"{self.base}/api/v1/transcripts",
                files={"audio": (path.name, f, "audio/mpeg")},
                data={"title": path.stem},
                timeout=600,
            )
        r.raise_for_status()
        return r.json()["id"], sent

    def wait(self, transcript_id: str, poll: float = 3.0) -> dict:
        while True:
            doc = self.http.get(f"{self.base}/api/v1/transcripts/{transcript_id}/", timeout=60).json()
            if doc["status"] in ("completed", "failed"):
                if doc["status"] == "failed":
                    raise RuntimeError(f"{transcript_id} failed: {doc['error']}")
                return doc
            time.sleep(poll)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        subprocess.run(["rm", "-rf", str(self.data_dir)], check=False)


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def memory_case(model: str, length: str) -> list[object]:
    from bench.memory import speech
    from transcripts.wer import word_error_rate

    path, reference = speech(length)
    server = Server(model, 1, f"web-transcribe-{Path(model).name}-{length}.log")
    try:
        idle = server.status("VmRSS")
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(server.status("VmRSS"))
                done.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        load0, cpu0 = loadavg(), server.cpu_seconds()
        sampler.start()
        transcript_id, sent = server.upload(path)
        doc = server.wait(transcript_id)
        done.set()
        sampler.join()
        wall, cpu = epoch(doc["completed_at"]) - sent, server.cpu_seconds() - cpu0
        hwm = server.status("VmHWM")
    finally:
        server.stop()
    mb = 2**20
    return [
        f"{Path(model).name} {length}",
        round(doc["duration"], 1),
        round(idle / mb),
        round(max(samples) / mb),
        round(hwm / mb),
        len(samples),
        round(cpu),
        round(wall),
        f"{100 * word_error_rate(reference, doc['text']):.2f} %",
        len(doc["text"].split()),
        f"{load0} -> {loadavg()}",
    ]


def run_memory(args: argparse.Namespace) -> None:
    rows = []
    for model in args.model:
        for length in args.lengths:
            rows.append(memory_case(model, length))
            print(rows[-1], flush=True)
    header = ["case", "audio s", "idle RSS MB", "max VmRSS MB", "VmHWM MB", "samples", "CPU s", "wall s"]
    print(table([*header, "WER", "words", "load 1/5/15 min"], rows))


def batch(server: Server, files: list[Path]) -> dict:
    """Every file uploaded at once; returns the batch's wall, CPU and per-job latencies."""
    cpu0 = server.cpu_seconds()
    started = time.time()
    jobs = [server.upload(f) for f in files]
    docs = [server.wait(tid) for tid, _ in jobs]
    ends = [epoch(d["completed_at"]) for d in docs]
    return {
        "wall": max(ends) - started,
        "cpu": server.cpu_seconds() - cpu0,
        "latency": [end - sent for end, (_, sent) in zip(ends, jobs, strict=True)],
        "texts": [d["text"] for d in docs],
    }


def run_workers(args: argparse.Namespace) -> None:
    files = [
        make_speech(OUT / f"speech-{args.seconds:g}s-seed{k}.mp3", args.seconds, seed=k)
        for k in range(args.jobs)
    ]
    warm = make_speech(OUT / "speech-20s-seed99.mp3", 20, seed=99)
    servers: dict[int, Server] = {}
    try:
        for n in args.workers:
            servers[n] = Server(args.model[0], n, f"web-transcribe-workers{n}.log")
        for n, server in servers.items():
            batch(server, [warm] * n)  # loads every replica
            print(f"TRANSCRIBE_WORKERS={n}: warm, RSS {server.status('VmRSS') / 2**20:.0f} MB", flush=True)
        results: dict[int, list[dict]] = {n: [] for n in servers}
        loads = []
        for i in range(args.rounds):
            order = list(servers) if i % 2 == 0 else list(reversed(servers))
            loads.append(loadavg())
            for n in order:
                results[n].append(batch(servers[n], files))
                r = results[n][-1]
                print(f"round {i + 1} workers={n}: {r['wall']:.1f} s, CPU {r['cpu']:.1f} s", flush=True)
        loads.append(loadavg())
        peaks = {n: s.status("VmHWM") / 2**20 for n, s in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    report_workers(args, results, loads, peaks)


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def report_workers(
    args: argparse.Namespace, results: dict[int, list[dict]], loads: list[str], peaks: dict
) -> None:
    one, *others = sorted(results)
    rows = []
    for n, runs in sorted(results.items()):
        for i, r in enumerate(runs):
            lat = r["latency"]
            rows.append(
                [
                    i + 1,
                    n,
                    r["wall"],
                    args.jobs * 3600 / r["wall"],
                    r["cpu"],
                    min(lat),
                    statistics.median(lat),
                    max(lat),
                ]
            )
    print(table(["round", "workers", "batch s", "jobs/hour", "CPU s", "latency min", "median", "max"], rows))
    print(f"load average (1/5/15 min) before each round and at the end: {' | '.join(loads)}")
    print("peak RSS of the web process:", ", ".join(f"workers={n}: {mb:.0f} MB" for n, mb in peaks.items()))
    for n in others:
        pairs = list(zip(results[one], results[n], strict=True))
        print(f"workers={n} / workers={one}, per round, min / median / max:")
        print(f"  jobs/hour ratio:      {spread([a['wall'] / b['wall'] for a, b in pairs])}")
        print(f"  CPU ratio:            {spread([b['cpu'] / a['cpu'] for a, b in pairs])}")
        med = [statistics.median(b["latency"]) / statistics.median(a["latency"]) for a, b in pairs]
        print(f"  median latency ratio: {spread(med)}")
        same = sum(a["texts"] == b["texts"] for a, b in pairs)
        print(f"  same texts: {same} / {len(pairs)} rounds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["memory", "workers"])
    parser.add_argument("--model", nargs="+", default=["tiny.en"], help="model names or folders")
    parser.add_argument("--lengths", nargs="+", default=["10min", "1h"], help="memory: speech lengths")
    parser.add_argument("--jobs", type=int, default=4, help="workers: jobs per batch")
    parser.add_argument("--seconds", type=float, default=120, help="workers: length of each job's speech")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    args.model = [str(Path(m).resolve()) if os.sep in m else m for m in args.model]
    print(f"cores: {os.cpu_count()}, load average: {loadavg()}", flush=True)
    run_memory(args) if args.mode == "memory" else run_workers(args)


if __name__ == "__main__":
    main()
