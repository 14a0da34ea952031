"""Native API representations (output) and request bodies (input). No rules here."""

from typing import Any

from rest_framework import serializers

from registry.models import ModelVersion, RegisteredModel


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of quietly turning 5 into "5"."""

    default_error_messages = {"invalid": "Must be a string, got {kind}."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid", kind=type(data).__name__)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer field that refuses booleans (DRF would read `true` as 1)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean only: 'yes', 'on', 1 and friends are refused so a typo cannot archive versions."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class ErrorSerializer(serializers.Serializer):
    """The native API's error body (documentation only)."""

    error_code = serializers.CharField(help_text="MLflow-style code, e.g. INVALID_PARAMETER_VALUE.")
    message = serializers.CharField()
    field = serializers.CharField(required=False, help_text="Dotted path of the invalid field (tags.0.key).")
    errors = serializers.DictField(required=False, help_text="Every invalid field with its messages.")


class TagSerializer(serializers.Serializer):
    key = StrictCharField(max_length=250, trim_whitespace=False)
    value = StrictCharField(max_length=5000, allow_blank=True, trim_whitespace=False)


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
    name = StrictCharField(max_length=256, trim_whitespace=False)
    description = StrictCharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    tags = TagSerializer(many=True, required=False, default=list)


class RegisteredModelUpdateSerializer(serializers.Serializer):
    description = StrictCharField(allow_blank=True, trim_whitespace=False)


class RenameSerializer(serializers.Serializer):
    new_name = StrictCharField(max_length=256, trim_whitespace=False)


class ModelVersionCreateSerializer(serializers.Serializer):
    source = StrictCharField(max_length=4000, trim_whitespace=False)
    run_id = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    run_link = StrictCharField(max_length=4000, required=False, allow_blank=True, default="")
    model_id = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    description = StrictCharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    tags = TagSerializer(many=True, required=False, default=list)


class ModelVersionUpdateSerializer(serializers.Serializer):
    description = StrictCharField(allow_blank=True, trim_whitespace=False)


class StageTransitionSerializer(serializers.Serializer):
    stage = StrictCharField()
    archive_existing_versions = StrictBooleanField(required=False, default=False)


class TagSetSerializer(serializers.Serializer):
    key = StrictCharField(max_length=250, trim_whitespace=False)
    value = StrictCharField(max_length=5000, allow_blank=True, trim_whitespace=False)


class AliasSetSerializer(serializers.Serializer):
    version = StrictIntegerField(min_value=1, max_value=2_000_000_000)


class ResolveSerializer(serializers.Serializer):
    uri = StrictCharField(max_length=1024)
    as_of = serializers.DateTimeField(required=False)


class ResolvedSerializer(serializers.Serializer):
    uri = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    artifact_location = serializers.CharField()
    source = serializers.CharField()
    stage = serializers.CharField()
    status = serializers.CharField()
