"""Lambda cold-start cost of our code: the time to import the app and every
handler Lambda calls, in a fresh interpreter each run (target ≤ 1 s).

    .venv/bin/python bench/lambda_start.py                 # from the checkout's venv
    .venv/bin/python bench/lambda_start.py --package X.zip # from a `zappa package` zip,
                                                           # unzipped, with nothing else on sys.path

With --package the import runs on the base interpreter with `-S -I`, so only the
standard library, the zip's contents and the packages the Lambda Python runtime
itself provides (RUNTIME_PROVIDED, linked from the venv; excluded from the zip
as `zappa init` does by default) are importable: this also proves the package
is complete (nothing it needs was excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, os, sys, time
if len(sys.argv) > 1:
    sys.path[:0] = [sys.argv[1]]  # /var/task
    sys.path.append(sys.argv[2])  # /var/runtime: the runtime's own boto3
t0 = time.perf_counter()
import zappa.handler  # Lambda's entry module
import django
from django.core.wsgi import get_wsgi_application
app = get_wsgi_application()  # settings, apps, models, middleware
t1 = time.perf_counter()
from django.urls import resolve
resolve("/")  # imports the URLconf and every view module, as the first request would
import workers.events, workers.sweeper, workers.errors, transcripts.arrivals
import transcripts.pipeline.dispatch, transcripts.direct_upload
t2 = time.perf_counter()
print(json.dumps({"django": t1 - t0, "total": t2 - t0, "modules": len(sys.modules)}))
"""

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil")

ENV = {
    "DJANGO_SETTINGS_MODULE": "project.settings",
    "SECRET_KEY": "bench",
    "DEBUG": "False",
    "ALLOWED_HOSTS": ".execute-api.eu-west-1.amazonaws.com",
    "DATABASE_URL": "postgres://bench@127.0.0.1:5432/bench",  # no connection is opened at import
    "TRANSCRIPTS_BUCKET": "processed-transcripts-123456789012-eu-west-1",
    "TRANSCRIBE_ENGINE": "openai",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_LAMBDA_FUNCTION_NAME": "meeting-noter-production",
    "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only on Lambda
}


def measure(cmd: list[str], cwd: Path, runs: int) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), **ENV}
    samples = []
    for _ in range(runs):
        out = subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True)
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    totals = sorted(s["total"] for s in samples)
    return {
        "runs": runs,
        "median_s": round(statistics.median(totals), 3),
        "min_s": round(totals[0], 3),
        "max_s": round(totals[-1], 3),
        "django_median_s": round(statistics.median(s["django"] for s in samples), 3),
        "modules": samples[0]["modules"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="a zip built by `zappa package`")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    results = {"venv": measure([sys.executable, "-c", PROBE], ROOT, args.runs)}
    if args.package:
        with zipfile.ZipFile(args.package) as zf:
            infos = zf.infolist()
            results["package"] = {
                "zip_mb": round(args.package.stat().st_size / 2**20, 1),
                "unzipped_mb": round(sum(i.file_size for i in infos) / 2**20, 1),
                "files": len(infos),
            }
            with tempfile.TemporaryDirectory() as tmp:
                task, runtime = Path(tmp, "task"), Path(tmp, "runtime")
                zf.extractall(task)
                runtime.mkdir()
                site = Path(next(p for p in sys.path if p.endswith("site-packages")))
                for name in RUNTIME_PROVIDED:
                    (runtime / name).symlink_to(site / name)
                base = getattr(sys, "_base_executable", sys.executable)
                cmd = [base, "-S", "-I", "-B", "-c", PROBE, str(task), str(runtime)]
                results["package"]["import"] = measure(cmd, task, args.runs)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
