"""Access API representations (output) and request bodies (input). No rules here."""

from rest_framework import serializers

from access.grants import Level
from accounts.models import ApiToken, Team
from registry.api.serializers import StrictCharField


class TokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret or digest."""

    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "user",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "is_active",
        ]


class IssuedTokenSerializer(TokenSerializer):
    """The creation response: the only one that carries the secret."""

    secret = serializers.CharField(read_only=True)

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "secret"]


class TokenCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    expires_in_days = serializers.IntegerField(required=False, min_value=1, max_value=3650, allow_null=True)
    user = StrictCharField(required=False, max_length=150, help_text="Superusers only: issue for this user.")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("expires_at") and attrs.get("expires_in_days"):
            raise serializers.ValidationError("Give expires_at or expires_in_days, not both.")
        return attrs


class TeamSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="group.name")
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["name", "description", "members", "created_at"]

    def get_members(self, obj: Team) -> list[str]:
        return sorted(user.username for user in obj.group.user_set.all())


class TeamCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=150)
    description = StrictCharField(required=False, allow_blank=True, default="", max_length=5000)


class TeamMemberSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)


class GrantCreateSerializer(serializers.Serializer):
    user = StrictCharField(required=False, max_length=150)
    team = StrictCharField(required=False, max_length=150)
    level = serializers.ChoiceField(choices=[level.value for level in Level])

    def validate(self, attrs: dict) -> dict:
        if bool(attrs.get("user")) == bool(attrs.get("team")):
            raise serializers.ValidationError("Give exactly one of 'user' or 'team'.")
        return attrs


class GrantSerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()
    level = serializers.CharField()


class EntitlementSerializer(serializers.Serializer):
    model = serializers.CharField()
    level = serializers.CharField()
    user = serializers.CharField()
    service_account = serializers.BooleanField()
    via = serializers.CharField()
    team = serializers.CharField()
    granted_level = serializers.CharField()


class ModelAccessSerializer(serializers.Serializer):
    model = serializers.CharField()
    grants = GrantSerializer(many=True)
    effective = EntitlementSerializer(many=True)
