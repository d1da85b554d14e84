"""Interfaces for programs (issue 10): the REST API under /api/v1/ (rest.py), the
OpenAI-compatible endpoint under /v1/ (openai_compat.py), API keys (auth.py) and
signed webhooks (webhooks.py)."""
