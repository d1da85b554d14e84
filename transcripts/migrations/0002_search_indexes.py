"""Trigram indexes so that search (`icontains` on title and text) uses an index
on PostgreSQL instead of scanning every row. Other databases are left as they
are; SQLite scans a single user's rows quickly enough (BENCHMARKS.md)."""

from __future__ import annotations

from django.db import migrations

INDEXES = {
    "transcript_text_trgm": 'UPPER("text"::text)',
    "transcript_title_trgm": 'UPPER("title"::text)',
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            return  # search still works, by scanning
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON transcripts_transcript USING gin ({expression} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("transcripts", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
