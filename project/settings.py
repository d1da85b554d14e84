"""Every knob comes from the environment; the defaults run a fresh checkout on
SQLite, local files and the bundled Whisper model with no network."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str = "False") -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


ON_LAMBDA = bool(os.getenv("AWS_LAMBDA_FUNCTION_NAME"))

DEBUG = envbool("DEBUG", "False" if ON_LAMBDA else "True")
SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-local-development-key"
ALLOWED_HOSTS = [h for h in os.getenv("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.getenv("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "transcripts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATA_DIR = Path(os.getenv("DATA_DIR", BASE_DIR / "var"))
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        # Reusing a connection saves PostgreSQL's per-connection setup on every request.
        conn_max_age=envint("DB_CONN_MAX_AGE", "60"),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Background workers write while the web thread reads: wait for the lock
    # instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "transcript_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# English only; it also lets the Lambda package leave out Django's 9 MB of translations (*.mo).
USE_I18N = False
USE_TZ = True

STATIC_URL = os.getenv("STATIC_URL", "/static/")
# Behind API Gateway's stage path (/dev, /production) without a custom domain; WhiteNoise
# strips it from STATIC_URL, which then names the full path ("/dev/static/").
FORCE_SCRIPT_NAME = os.getenv("FORCE_SCRIPT_NAME") or None
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve app static files even where collectstatic has not run (tests, a fresh
# checkout); on Lambda the prebuild step collects them as well.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(os.getenv("MEDIA_ROOT", DATA_DIR / "media"))

# Storage: the S3 bucket when TRANSCRIPTS_BUCKET is set, else a local folder.
TRANSCRIPTS_BUCKET = os.getenv("TRANSCRIPTS_BUCKET", "")
AWS_REGION = os.getenv("AWS_REGION", os.getenv("AWS_DEFAULT_REGION", "us-east-1"))
AWS_S3_ENDPOINT_URL = os.getenv("AWS_S3_ENDPOINT_URL") or None
if TRANSCRIPTS_BUCKET:
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": TRANSCRIPTS_BUCKET,
            "region_name": AWS_REGION,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": envint("PRESIGNED_URL_SECONDS", "600"),
            "file_overwrite": False,
            "signature_version": "s3v4",
        },
    }
else:
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads: stream to a temporary file rather than holding them in memory.
MAX_UPLOAD_MB = envint("MAX_UPLOAD_MB", "500")
MAX_AUDIO_MINUTES = envint("MAX_AUDIO_MINUTES", "240")
MIN_AUDIO_SECONDS = float(os.getenv("MIN_AUDIO_SECONDS", "0.5"))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = os.getenv("FILE_UPLOAD_TEMP_DIR") or None
# On S3 the upload page sends audio above this size browser → S3 (presigned POST,
# valid this many seconds): API Gateway and Lambda refuse bodies over ~6 MB.
DIRECT_UPLOAD_MIN_BYTES = envint("DIRECT_UPLOAD_MIN_BYTES", str(4 * 2**20))
PRESIGNED_UPLOAD_SECONDS = envint("PRESIGNED_UPLOAD_SECONDS", "900")
TEMPLATES[0]["OPTIONS"]["context_processors"].append("transcripts.direct_upload.storage_context")

# Transcription
TRANSCRIBE_ENGINE = os.getenv("TRANSCRIBE_ENGINE", "openai" if os.getenv("OPENAI_API_KEY") else "local")
WHISPER_MODEL = os.getenv("WHISPER_MODEL", "tiny.en")
WHISPER_DEVICE = os.getenv("WHISPER_DEVICE", "cpu")
WHISPER_COMPUTE_TYPE = os.getenv("WHISPER_COMPUTE_TYPE", "int8")
WHISPER_THREADS = envint("WHISPER_THREADS", str(os.cpu_count() or 1))
WHISPER_BEAM_SIZE = envint("WHISPER_BEAM_SIZE", "5")
OPENAI_API_KEY = os.getenv("OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.getenv("OPENAI_BASE_URL") or None
OPENAI_TRANSCRIBE_MODEL = os.getenv("OPENAI_TRANSCRIBE_MODEL", "whisper-1")
OPENAI_TIMEOUT_SECONDS = float(os.getenv("OPENAI_TIMEOUT_SECONDS", "120"))
OPENAI_MAX_RETRIES = envint("OPENAI_MAX_RETRIES", "4")
OPENAI_MAX_CONCURRENCY = envint("OPENAI_MAX_CONCURRENCY", "8")
# Long audio (docs/openai.md): the openai engine cuts audio longer than this into parts
# of at most this length, at pauses; each part is ~1.4 MB of Opus, far below the 25 MB limit.
OPENAI_CHUNK_SECONDS = float(os.getenv("OPENAI_CHUNK_SECONDS", "600"))
# The local engine streams audio and transcribes it in windows of about this length, each
# cut in a pause, so its memory does not grow with the recording (BENCHMARKS.md, memory).
CHUNK_LOCAL_WINDOW_SECONDS = float(os.getenv("CHUNK_LOCAL_WINDOW_SECONDS", "300"))
# > 0: faster-whisper's batched pipeline with this batch size, an opt-in "fast" mode that
# costs accuracy (README, BENCHMARKS.md); 0 decodes sequentially.
WHISPER_BATCH_SIZE = envint("WHISPER_BATCH_SIZE", "0")
# On Lambda, audio longer than this is transcribed as parts, one @task invocation each,
# at most CHUNK_TASK_LANES at a time (OPENAI_MAX_CONCURRENCY for the openai engine).
CHUNK_TASK_THRESHOLD_SECONDS = float(os.getenv("CHUNK_TASK_THRESHOLD_SECONDS", "1800"))
CHUNK_TASK_LANES = envint("CHUNK_TASK_LANES", "4")

# Background work: "thread" runs a bounded in-process executor (local default),
# "inline" runs in the caller, "lambda" hands the id to Zappa's async @task.
TRANSCRIBE_RUNNER = os.getenv("TRANSCRIBE_RUNNER", "lambda" if ON_LAMBDA else "thread")
# Each worker gets its own model replica and WHISPER_THREADS / TRANSCRIBE_WORKERS threads.
TRANSCRIBE_WORKERS = envint("TRANSCRIBE_WORKERS", "1")
# A claimed row whose lease runs out (crash, Lambda timeout) goes back to the
# queue; the worker renews it as it makes progress.
TRANSCRIBE_LEASE_SECONDS = envint("TRANSCRIBE_LEASE_SECONDS", "300")
TRANSCRIBE_MAX_ATTEMPTS = envint("TRANSCRIBE_MAX_ATTEMPTS", "3")

if not DEBUG:
    SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", "True")
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "faster_whisper": {"level": "WARNING"},
    },
}
