"""The artifacts app's models, taken over from the registry app's state; their tables keep their names."""


import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MODELS = ['artifactjob', 'artifactmanifest', 'manifestentry', 'outboxmessage']


def content_types_follow(apps, schema_editor) -> None:
    """Existing databases: the content types (permissions, admin log, guardian grants) move with the models."""
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="registry", model__in=MODELS).update(app_label="artifacts")


def content_types_return(apps, schema_editor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="artifacts", model__in=MODELS).update(app_label="registry")


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
                    name='ArtifactJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('validate', 'Validate artifacts'), ('copy', 'Copy to governed store')], max_length=16)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], db_index=True, default='queued', max_length=16)),
                        ('request_id', models.BigIntegerField(blank=True, db_index=True, null=True)),
                        ('destination', models.TextField(blank=True, default='')),
                        ('objects_total', models.IntegerField(default=0)),
                        ('objects_done', models.IntegerField(default=0)),
                        ('bytes_total', models.BigIntegerField(default=0)),
                        ('bytes_done', models.BigIntegerField(default=0)),
                        ('error', models.TextField(blank=True, default='')),
                        ('attempts', models.IntegerField(default=0, help_text='How many times a worker started this job.')),
                        ('lease_token', models.CharField(blank=True, default='', max_length=32)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='artifact_jobs', to='registry.modelversion')),
                    ],
                    options={
                        'db_table': 'registry_artifactjob',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='ArtifactManifest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('state', models.CharField(choices=[('pending', 'Pending validation'), ('validated', 'Validated'), ('failed', 'Failed validation'), ('unvalidated', 'Not validated (source unreadable by Quorum)')], default='pending', max_length=16)),
                        ('message', models.TextField(blank=True, default='')),
                        ('source_location', models.TextField(blank=True, default='', help_text='The location that was read.')),
                        ('digest', models.CharField(blank=True, default='', help_text='SHA-256 over the sorted (path, size, sha256) list.', max_length=64)),
                        ('object_count', models.IntegerField(default=0)),
                        ('total_bytes', models.BigIntegerField(default=0)),
                        ('flavors', models.JSONField(blank=True, default=list)),
                        ('signature', models.JSONField(blank=True, null=True)),
                        ('validated_at', models.DateTimeField(blank=True, null=True)),
                        ('governed_location', models.TextField(blank=True, default='')),
                        ('governed_at', models.DateTimeField(blank=True, null=True)),
                        ('version', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='artifact_manifest', to='registry.modelversion')),
                    ],
                    options={
                        'db_table': 'registry_artifactmanifest',
                    },
                ),
                migrations.CreateModel(
                    name='ManifestEntry',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('path', models.TextField()),
                        ('size', models.BigIntegerField()),
                        ('sha256', models.CharField(max_length=64)),
                        ('governed_verified_at', models.DateTimeField(blank=True, null=True)),
                        ('manifest', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='entries', to='artifacts.artifactmanifest')),
                    ],
                    options={
                        'db_table': 'registry_manifestentry',
                        'ordering': ['path'],
                    },
                ),
                migrations.CreateModel(
                    name='OutboxMessage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('task_name', models.CharField(max_length=200)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('dispatched_at', models.DateTimeField(blank=True, help_text='Last successful publish.', null=True)),
                        ('dispatch_attempts', models.IntegerField(default=0)),
                        ('last_error', models.TextField(blank=True, default='')),
                        ('done_at', models.DateTimeField(blank=True, db_index=True, null=True)),
                        ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='outbox', to='artifacts.artifactjob')),
                    ],
                    options={
                        'db_table': 'registry_outboxmessage',
                        'ordering': ['created_at', 'id'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='artifactjob',
                    constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['queued', 'running'])), fields=('version', 'kind'), name='uniq_active_artifact_job'),
                ),
                migrations.AddConstraint(
                    model_name='manifestentry',
                    constraint=models.UniqueConstraint(fields=('manifest', 'path'), name='uniq_manifest_path'),
                ),
            ],
        ),
        migrations.RunPython(content_types_follow, content_types_return, elidable=False),
    ]
