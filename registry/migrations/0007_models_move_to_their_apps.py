"""Workflows, artifacts and webhooks became apps of their own: their models leave the registry's state.

State only: the tables stay where they are, under their registry_* names (each model says so with
db_table), and the new apps' first migrations take the models into their own state. The content
types (and with them every permission and grant) are renamed there, so nothing is lost.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_accounts_generation"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='registeredmodel',
            options={'ordering': ['name'], 'permissions': [('approve_staging_registeredmodel', 'Approve requests targeting Staging'), ('approve_production_registeredmodel', 'Approve requests targeting Production'), ('manage_registeredmodel', 'Manage access, rename, delete and policies'), ('manage_registry_webhooks', 'Manage registry-wide webhooks')]},
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.RemoveField(
                model_name='artifactjob',
                name='created_by',
            ),
            migrations.RemoveField(
                model_name='artifactjob',
                name='version',
            ),
            migrations.RemoveField(
                model_name='outboxmessage',
                name='job',
            ),
            migrations.RemoveField(
                model_name='artifactmanifest',
                name='version',
            ),
            migrations.RemoveField(
                model_name='manifestentry',
                name='manifest',
            ),
            migrations.RemoveField(
                model_name='deliveryattempt',
                name='delivery',
            ),
            migrations.RemoveField(
                model_name='promotionpolicy',
                name='model',
            ),
            migrations.RemoveField(
                model_name='promotionpolicy',
                name='required_team',
            ),
            migrations.RemoveField(
                model_name='transitionrequest',
                name='model',
            ),
            migrations.RemoveField(
                model_name='transitionrequest',
                name='requester',
            ),
            migrations.RemoveField(
                model_name='transitionrequest',
                name='version',
            ),
            migrations.RemoveField(
                model_name='versionactivity',
                name='request',
            ),
            migrations.RemoveField(
                model_name='versionactivity',
                name='user',
            ),
            migrations.RemoveField(
                model_name='versionactivity',
                name='version',
            ),
            migrations.RemoveField(
                model_name='webhook',
                name='created_by',
            ),
            migrations.RemoveField(
                model_name='webhook',
                name='model',
            ),
            migrations.RemoveField(
                model_name='webhookdelivery',
                name='webhook',
            ),
            migrations.RemoveField(
                model_name='webhookdelivery',
                name='record',
            ),
            migrations.DeleteModel(
                name='Approval',
            ),
            migrations.DeleteModel(
                name='ArtifactJob',
            ),
            migrations.DeleteModel(
                name='OutboxMessage',
            ),
            migrations.DeleteModel(
                name='ArtifactManifest',
            ),
            migrations.DeleteModel(
                name='ManifestEntry',
            ),
            migrations.DeleteModel(
                name='DeliveryAttempt',
            ),
            migrations.DeleteModel(
                name='PromotionPolicy',
            ),
            migrations.DeleteModel(
                name='TransitionRequest',
            ),
            migrations.DeleteModel(
                name='VersionActivity',
            ),
            migrations.DeleteModel(
                name='Webhook',
            ),
            migrations.DeleteModel(
                name='WebhookDelivery',
            ),
            migrations.DeleteModel(
                name='WebhookEventRecord',
            ),
            ],
        ),
    ]
