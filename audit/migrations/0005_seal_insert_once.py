"""PostgreSQL: the sealing function builds the event's record once instead of once per column.

See audit/triggers.py (EVENT_INSERT). Same rows, same hashes; reversible to 0004's function.
"""

from django.db import migrations

from audit.triggers import EVENT_INSERT, EVENT_INSERT_0004, seal_one_sql


def _replace_function(event_insert: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(seal_one_sql(event_insert), params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_seal_at_commit")]

    operations = [
        migrations.RunPython(
            _replace_function(EVENT_INSERT), _replace_function(EVENT_INSERT_0004), elidable=False
        )
    ]
