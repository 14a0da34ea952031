"""Native API representations (output) and request bodies (input). No rules here."""

from rest_framework import serializers

from registry.models import ModelVersion, RegisteredModel


class TagSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=250)
    value = serializers.CharField(max_length=5000, allow_blank=True)


class AliasSerializer(serializers.Serializer):
    alias = serializers.CharField()
    version = serializers.SerializerMethodField()

    def get_version(self, obj) -> int:
        return obj.version.version


class ModelVersionSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="model.name")
    tags = TagSerializer(many=True, read_only=True)
    aliases = serializers.SerializerMethodField()
    creator = serializers.SlugRelatedField(slug_field="username", read_only=True)
    download_uri = serializers.CharField(read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "name",
            "version",
            "source",
            "storage_location",
            "download_uri",
            "run_id",
            "run_link",
            "logged_model_id",
            "description",
            "status",
            "status_message",
            "stage",
            "tags",
            "aliases",
            "creator",
            "created_at",
            "updated_at",
        ]

    def get_aliases(self, obj) -> list[str]:
        return [a.alias for a in obj.aliases.all()]


class RegisteredModelSerializer(serializers.ModelSerializer):
    tags = TagSerializer(many=True, read_only=True)
    aliases = AliasSerializer(many=True, read_only=True)
    creator = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RegisteredModel
        fields = ["name", "description", "tags", "aliases", "creator", "created_at", "updated_at"]


class RegisteredModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=256, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    tags = TagSerializer(many=True, required=False, default=list)


class RegisteredModelUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(allow_blank=True, trim_whitespace=False)


class RenameSerializer(serializers.Serializer):
    new_name = serializers.CharField(max_length=256, trim_whitespace=False)


class ModelVersionCreateSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=4000, trim_whitespace=False)
    run_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    run_link = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    model_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    tags = TagSerializer(many=True, required=False, default=list)


class ModelVersionUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(allow_blank=True, trim_whitespace=False)


class StageTransitionSerializer(serializers.Serializer):
    stage = serializers.CharField()
    archive_existing_versions = serializers.BooleanField(required=False, default=False)


class TagSetSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=250, trim_whitespace=False)
    value = serializers.CharField(max_length=5000, allow_blank=True, trim_whitespace=False)


class AliasSetSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class ResolveSerializer(serializers.Serializer):
    uri = serializers.CharField(max_length=1024)
    as_of = serializers.DateTimeField(required=False)


class ResolvedSerializer(serializers.Serializer):
    uri = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    artifact_location = serializers.CharField()
    source = serializers.CharField()
    stage = serializers.CharField()
    status = serializers.CharField()
