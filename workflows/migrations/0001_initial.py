"""The workflows app's models, taken over from the registry app's state; their tables keep their names."""


import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MODELS = ['promotionpolicy', 'transitionrequest', 'approval', 'versionactivity']


def content_types_follow(apps, schema_editor) -> None:
    """Existing databases: the content types (permissions, admin log, guardian grants) move with the models."""
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="registry", model__in=MODELS).update(app_label="workflows")


def content_types_return(apps, schema_editor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="workflows", model__in=MODELS).update(app_label="registry")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ('accounts', '0001_initial'),
        ('registry', '0007_models_move_to_their_apps'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='TransitionRequest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('target_kind', models.CharField(choices=[('stage', 'Stage'), ('alias', 'Alias')], max_length=8)),
                        ('target', models.CharField(max_length=255)),
                        ('from_stage', models.CharField(help_text="The version's stage when requested.", max_length=16)),
                        ('archive_existing_versions', models.BooleanField(default=False)),
                        ('reason', models.TextField()),
                        ('state', models.CharField(choices=[('pending', 'Pending'), ('approved', 'Approved'), ('applying', 'Applying'), ('applied', 'Applied'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('expired', 'Expired'), ('failed', 'Failed')], default='pending', max_length=16)),
                        ('state_reason', models.TextField(blank=True, default='', help_text='Why it failed, expired or ended.')),
                        ('evidence', models.JSONField(default=dict, help_text='Artifact digest and validation at request time.')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('decided_at', models.DateTimeField(blank=True, null=True)),
                        ('model', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='transition_requests', to='registry.registeredmodel')),
                        ('requester', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='transition_requests', to='registry.modelversion')),
                    ],
                    options={
                        'db_table': 'registry_transitionrequest',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='Approval',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('comment', models.TextField()),
                        ('artifact_digest', models.CharField(blank=True, default='', help_text="The version's artifact digest when approved.", max_length=128)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('expires_at', models.DateTimeField()),
                        ('approver', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('request', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='approvals', to='workflows.transitionrequest')),
                    ],
                    options={
                        'db_table': 'registry_approval',
                        'ordering': ['created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='VersionActivity',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('activity_type', models.CharField(choices=[('REQUESTED_TRANSITION', 'Requested Transition'), ('APPROVED_REQUEST', 'Approved Request'), ('REJECTED_REQUEST', 'Rejected Request'), ('CANCELLED_REQUEST', 'Cancelled Request'), ('APPLIED_TRANSITION', 'Applied Transition'), ('SYSTEM_TRANSITION', 'System Transition'), ('NEW_COMMENT', 'New Comment')], max_length=32)),
                        ('from_stage', models.CharField(blank=True, default='', max_length=16)),
                        ('to_stage', models.CharField(blank=True, default='', help_text='Stage, or @alias.', max_length=256)),
                        ('comment', models.TextField(blank=True, default='')),
                        ('system_comment', models.TextField(blank=True, default='')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('request', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='activities', to='workflows.transitionrequest')),
                        ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='activities', to='registry.modelversion')),
                    ],
                    options={
                        'verbose_name_plural': 'version activities',
                        'db_table': 'registry_versionactivity',
                        'ordering': ['created_at', 'pk'],
                    },
                ),
                migrations.CreateModel(
                    name='PromotionPolicy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('target_kind', models.CharField(choices=[('stage', 'Stage'), ('alias', 'Alias')], max_length=8)),
                        ('target', models.CharField(help_text='Stage name (Production) or alias (champion).', max_length=255)),
                        ('governed', models.BooleanField(default=True, help_text='Off: this target is explicitly ungoverned (EDIT holders set it directly).')),
                        ('required_approvals', models.PositiveSmallIntegerField(default=2)),
                        ('rank', models.CharField(choices=[('staging', 'Staging'), ('production', 'Production')], default='production', max_length=16)),
                        ('requester_may_approve', models.BooleanField(default=False)),
                        ('creator_may_approve', models.BooleanField(default=False)),
                        ('require_validated_artifacts', models.BooleanField(default=True)),
                        ('approval_ttl_hours', models.PositiveIntegerField(default=72, help_text='Approvals older than this lapse.')),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('model', models.ForeignKey(blank=True, help_text='Empty: the organisation-wide default for models without their own policy.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='promotion_policies', to='registry.registeredmodel')),
                        ('required_team', models.ForeignKey(blank=True, help_text='At least one approval must come from a member of this team.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.team')),
                    ],
                    options={
                        'verbose_name_plural': 'promotion policies',
                        'db_table': 'registry_promotionpolicy',
                        'constraints': [models.UniqueConstraint(condition=models.Q(('model__isnull', False)), fields=('model', 'target_kind', 'target'), name='uniq_policy_per_model_target'), models.UniqueConstraint(condition=models.Q(('model__isnull', True)), fields=('target_kind', 'target'), name='uniq_default_policy_target'), models.CheckConstraint(condition=models.Q(('required_approvals__gte', 1)), name='policy_needs_an_approval')],
                    },
                ),
                migrations.AddIndex(
                    model_name='transitionrequest',
                    index=models.Index(fields=['state', 'created_at'], name='request_state_created'),
                ),
                migrations.AddConstraint(
                    model_name='transitionrequest',
                    constraint=models.UniqueConstraint(condition=models.Q(('state__in', ['pending', 'approved', 'applying'])), fields=('version', 'target_kind', 'target'), name='one_open_request_per_version_target'),
                ),
                migrations.AddConstraint(
                    model_name='approval',
                    constraint=models.UniqueConstraint(fields=('request', 'approver'), name='one_approval_per_person'),
                ),
            ],
        ),
        migrations.RunPython(content_types_follow, content_types_return, elidable=False),
    ]
