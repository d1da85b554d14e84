from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
application = get_wsgi_application()

# The serving process starts the local worker now, not on its first request, so
# rows a previous run left behind are recovered with no traffic (any WSGI server).
from transcripts.pipeline.queue import start_local_worker  # noqa: E402

start_local_worker()
