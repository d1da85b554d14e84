"""Every knob comes from the environment; the defaults run a fresh checkout on
SQLite, local files and the bundled Whisper model with no network."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# A malformed value stops start-up with one line naming the variable (manage.py prints
# it without a traceback) instead of being read as a default: DEBUG=ture is not False.
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _env(name: str, default: str) -> str:
    return os.getenv(name, "").strip() or default


def envbool(name: str, default: str = "False") -> bool:
    value = _env(name, default).lower()
    if value not in _TRUE + _FALSE:
        raise ImproperlyConfigured(f"{name}={os.getenv(name)!r} is not a yes/no value: use true or false.")
    return value in _TRUE


def envint(name: str, default: str) -> int:
    try:
        return int(_env(name, default))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={os.getenv(name)!r} is not a whole number.") from None


def envfloat(name: str, default: str) -> float:
    try:
        return float(_env(name, default))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={os.getenv(name)!r} is not a number.") from None


def _kept_secret_key(data_dir: Path) -> str:
    """A key generated on first start and kept, owner-only, in the data directory, so
    sessions survive restarts and no key is ever committed or shared between installs."""
    from django.core.management.utils import get_random_secret_key

    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".secret_key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(get_random_secret_key())
        try:
            os.link(tmp, path)  # atomic: of two processes starting at once, one key wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise ImproperlyConfigured(f"{path} holds no usable secret key: delete it to make a new one.")
    return key


ON_LAMBDA = bool(os.getenv("AWS_LAMBDA_FUNCTION_NAME"))
DATA_DIR = Path(_env("DATA_DIR", str(BASE_DIR / "var")))

# Off unless asked for: `make run` serves the product, and debug pages list URL
# patterns and settings. Set DEBUG=true while developing.
DEBUG = envbool("DEBUG", "False")
SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if ON_LAMBDA:  # every container must share one key, and Lambda's disk is not kept
        raise ImproperlyConfigured(
            "SECRET_KEY must be set on Lambda (zappa_settings.json or its remote env)."
        )
    SECRET_KEY = _kept_secret_key(DATA_DIR)
ALLOWED_HOSTS = [h for h in os.getenv("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.getenv("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "ninja",  # serves the API docs page's Swagger UI from static files, not a CDN
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
    # Before any later middleware or view reads the body (CSRF reads request.POST).
    "project.middleware.refuse_oversized_body",
    "project.middleware.content_security_policy",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
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
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # "Summer2026": a common password with digits or symbols added is still a guess.
    {"NAME": "transcripts.passwords.CommonWordWithSuffixValidator"},
]
# Sign-in throttling (django-axes, counted in the database so every process and Lambda
# container sees the same count): after LOGIN_FAILURE_LIMIT failures for one account, or
# from one address, sign-in is refused, even with the right password, for
# LOGIN_COOLOFF_MINUTES after the last failure.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = timedelta(minutes=envfloat("LOGIN_COOLOFF_MINUTES", "15"))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "transcripts.views.signin_throttled"
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
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
MIN_AUDIO_SECONDS = envfloat("MIN_AUDIO_SECONDS", "0.5")
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
# tiny.en (English only, fastest), base (multilingual; see BENCHMARKS.md "Accuracy"), a folder,
# or any faster-whisper name / Hugging Face repo id, fetched into WHISPER_MODELS_DIR only
# when WHISPER_ALLOW_DOWNLOAD is on (workers/speech/models.py).
# Lambda's default stays tiny.en: base's 145 MB would not fit in its 250 MB package.
WHISPER_MODEL = os.getenv("WHISPER_MODEL", "tiny.en" if ON_LAMBDA else "base")
WHISPER_MODELS_DIR = Path(os.getenv("WHISPER_MODELS_DIR", DATA_DIR / "models"))
WHISPER_ALLOW_DOWNLOAD = envbool("WHISPER_ALLOW_DOWNLOAD")
WHISPER_DEVICE = os.getenv("WHISPER_DEVICE", "cpu")
WHISPER_COMPUTE_TYPE = os.getenv("WHISPER_COMPUTE_TYPE", "int8")
WHISPER_THREADS = envint("WHISPER_THREADS", str(os.cpu_count() or 1))
WHISPER_BEAM_SIZE = envint("WHISPER_BEAM_SIZE", "5")
OPENAI_API_KEY = os.getenv("OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.getenv("OPENAI_BASE_URL") or None
OPENAI_TRANSCRIBE_MODEL = os.getenv("OPENAI_TRANSCRIBE_MODEL", "whisper-1")
OPENAI_TIMEOUT_SECONDS = envfloat("OPENAI_TIMEOUT_SECONDS", "120")
# A request may also take this long per second of audio the server has to get through
# first (its own and what is already in flight): slow self-hosted servers serve one at a time.
OPENAI_TIMEOUT_PER_AUDIO_SECOND = envfloat("OPENAI_TIMEOUT_PER_AUDIO_SECOND", "1.0")
OPENAI_MAX_RETRIES = envint("OPENAI_MAX_RETRIES", "4")
OPENAI_MAX_CONCURRENCY = envint("OPENAI_MAX_CONCURRENCY", "8")
# Long audio (docs/openai.md): the openai engine cuts audio longer than this into parts
# of at most this length, at pauses; each part is ~1.4 MB of Opus, far below the 25 MB limit.
OPENAI_CHUNK_SECONDS = envfloat("OPENAI_CHUNK_SECONDS", "600")
# The local engine streams audio and transcribes it in windows of about this length, each
# cut in a pause, so its memory does not grow with the recording (BENCHMARKS.md, memory).
CHUNK_LOCAL_WINDOW_SECONDS = envfloat("CHUNK_LOCAL_WINDOW_SECONDS", "300")
# > 0: faster-whisper's batched pipeline with this batch size, an opt-in "fast" mode that
# costs accuracy (README, BENCHMARKS.md); 0 decodes sequentially.
WHISPER_BATCH_SIZE = envint("WHISPER_BATCH_SIZE", "0")
# On Lambda, audio longer than this is transcribed as parts, one @task invocation each,
# at most CHUNK_TASK_LANES at a time (OPENAI_MAX_CONCURRENCY for the openai engine).
CHUNK_TASK_THRESHOLD_SECONDS = envfloat("CHUNK_TASK_THRESHOLD_SECONDS", "1800")
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

# API Gateway serves HTTPS only; `make run` serves plain HTTP on 127.0.0.1 (set
# SECURE_COOKIES=true behind an HTTPS proxy).
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", "True" if ON_LAMBDA else "False")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# APIs (transcripts/api/, README "API"): requests per key per minute; the OpenAI-compatible
# endpoint's body limit and how long it waits for a result (API Gateway cuts a request
# at 29 s and Lambda a body at 6 MB: past these it answers 413/504 and points to /api/v1/).
API_RATE_LIMIT_PER_MINUTE = envint("API_RATE_LIMIT_PER_MINUTE", "120")
OPENAI_COMPAT_MAX_MB = envfloat("OPENAI_COMPAT_MAX_MB", "4" if ON_LAMBDA else "25")
OPENAI_COMPAT_WAIT_SECONDS = envfloat("OPENAI_COMPAT_WAIT_SECONDS", "25" if ON_LAMBDA else "600")
# Webhooks never go to loopback, private, link-local or metadata addresses unless a network
# is listed here (e.g. "127.0.0.1/32"); failed deliveries are retried for this long.
WEBHOOK_ALLOWED_NETWORKS = [n for n in os.getenv("WEBHOOK_ALLOWED_NETWORKS", "").split(",") if n]
WEBHOOK_RETRY_SECONDS = envfloat("WEBHOOK_RETRY_SECONDS", "600")
WEBHOOK_FIRST_RETRY_SECONDS = envfloat("WEBHOOK_FIRST_RETRY_SECONDS", "5")
WEBHOOK_TIMEOUT_SECONDS = envfloat("WEBHOOK_TIMEOUT_SECONDS", "10")


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
        "axes": {"level": "WARNING"},
        # The dev server's access log: a line per status poll drowns what matters;
        # 4xx/5xx answers are WARNING/ERROR and still show.
        "django.server": {"level": "WARNING"},
    },
}
