"""The webhooks app's models, taken over from the registry app's state; their tables keep their names."""


import django.db.models.deletion
import uuid
import functools
import secrets
from django.conf import settings
from django.db import migrations, models


MODELS = ['webhook', 'webhookeventrecord', 'webhookdelivery', 'deliveryattempt']


def registry_wide_permission_keep(apps, schema_editor) -> None:
    """`registry.manage_registry_webhooks` now hangs off RegisteredModel's content type: move the row (and its grants)."""
    content_type = apps.get_model("contenttypes", "ContentType")
    permission = apps.get_model("auth", "Permission")
    source = content_type.objects.filter(app_label="registry", model="webhook").first()
    target, _ = content_type.objects.get_or_create(app_label="registry", model="registeredmodel")
    old = permission.objects.filter(content_type=source, codename="manage_registry_webhooks").first() if source else None
    if old is None:
        return
    existing = permission.objects.filter(content_type=target, codename="manage_registry_webhooks").first()
    if existing is None:
        old.content_type = target
        old.save(update_fields=["content_type"])
        return
    for user in old.user_set.all():
        user.user_permissions.add(existing)
    for group in old.group_set.all():
        group.permissions.add(existing)
    old.delete()


def content_types_follow(apps, schema_editor) -> None:
    """Existing databases: the content types (permissions, admin log, guardian grants) move with the models."""
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="registry", model__in=MODELS).update(app_label="webhooks")


def content_types_return(apps, schema_editor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="webhooks", model__in=MODELS).update(app_label="registry")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ('registry', '0007_models_move_to_their_apps'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='WebhookEventRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event', models.CharField(db_index=True, max_length=64)),
                        ('model_name', models.CharField(blank=True, default='', max_length=256)),
                        ('registered_model_id', models.BigIntegerField(blank=True, null=True)),
                        ('audit_seq', models.BigIntegerField(blank=True, help_text='The audit event it came from.', null=True)),
                        ('payload', models.TextField(help_text='The JSON body sent, byte for byte (the signature covers it).')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'registry_webhookeventrecord',
                        'ordering': ['-id'],
                    },
                ),
                migrations.CreateModel(
                    name='Webhook',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('public_id', models.CharField(default=functools.partial(secrets.token_hex, 16), editable=False, max_length=32, unique=True)),
                        ('name', models.CharField(max_length=256)),
                        ('description', models.TextField(blank=True, default='')),
                        ('url', models.URLField(max_length=2000)),
                        ('events', models.JSONField(default=list, help_text="Event names, e.g. 'model_version.created'.")),
                        ('secret', models.CharField(blank=True, default='', max_length=512)),
                        ('status', models.CharField(choices=[('ACTIVE', 'Active: real events are delivered'), ('DISABLED', 'Disabled: nothing is delivered'), ('TEST_MODE', 'Test mode: only test calls are sent; real events are logged, not sent')], default='ACTIVE', max_length=16)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('model', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='webhooks', to='registry.registeredmodel')),
                    ],
                    options={
                        'db_table': 'registry_webhook',
                        'ordering': ['created_at', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('delivery_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ('is_test', models.BooleanField(default=False, help_text='Sent by the test endpoint; never retried.')),
                        ('sent_on_request', models.BooleanField(default=False)),
                        ('status', models.CharField(choices=[('PENDING', 'Pending: waiting for its first or next attempt'), ('SUCCEEDED', 'Succeeded: the receiver answered 2xx'), ('DEAD', 'Dead letter: retries exhausted; replay to send again'), ('SUPPRESSED', 'Suppressed: the webhook was in test mode; replay to send')], default='PENDING', max_length=16)),
                        ('attempts', models.IntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('leased_until', models.DateTimeField(blank=True, null=True)),
                        ('first_attempt_at', models.DateTimeField(blank=True, help_text='Start of the retry window (reset by a replay).', null=True)),
                        ('last_status_code', models.IntegerField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True, default='')),
                        ('dispatched_at', models.DateTimeField(blank=True, help_text='When the last published task is due to run.', null=True)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('webhook', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhook')),
                        ('record', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhookeventrecord')),
                    ],
                    options={
                        'db_table': 'registry_webhookdelivery',
                        'ordering': ['-id'],
                    },
                ),
                migrations.CreateModel(
                    name='DeliveryAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.IntegerField()),
                        ('started_at', models.DateTimeField()),
                        ('status_code', models.IntegerField(blank=True, null=True)),
                        ('latency_ms', models.IntegerField(blank=True, null=True)),
                        ('error', models.TextField(blank=True, default='')),
                        ('replay', models.BooleanField(default=False)),
                        ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='webhooks.webhookdelivery')),
                    ],
                    options={
                        'db_table': 'registry_deliveryattempt',
                        'ordering': ['delivery_id', 'number'],
                    },
                ),
                migrations.AddIndex(
                    model_name='webhook',
                    index=models.Index(fields=['status', 'model'], name='webhook_live_lookup'),
                ),
                migrations.AddIndex(
                    model_name='webhookdelivery',
                    index=models.Index(fields=['status', 'next_attempt_at'], name='webhook_delivery_due'),
                ),
            ],
        ),
        migrations.RunPython(registry_wide_permission_keep, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(content_types_follow, content_types_return, elidable=False),
    ]
