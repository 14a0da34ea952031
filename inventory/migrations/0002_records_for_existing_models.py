from django.db import migrations


def records_create(apps, schema_editor) -> None:
    """Every registered model has an inventory record; new ones get theirs when created."""
    RegisteredModel = apps.get_model("registry", "RegisteredModel")
    InventoryRecord = apps.get_model("inventory", "InventoryRecord")
    have = set(InventoryRecord.objects.values_list("model_id", flat=True))
    InventoryRecord.objects.bulk_create(
        InventoryRecord(model_id=pk) for pk in RegisteredModel.objects.values_list("pk", flat=True) if pk not in have
    )


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial")]

    operations = [migrations.RunPython(records_create, migrations.RunPython.noop)]
