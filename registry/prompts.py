"""What makes a registered model a prompt (MLflow 3's prompt registry), in one place.

MLflow keeps prompts in the model registry: a prompt is a registered model tagged
`mlflow.prompt.is_prompt = true`, a prompt version a model version with the same tag whose template
is the `mlflow.prompt.text` tag, and whose source is one of MLflow's placeholders (a prompt has no
artifacts). The client sends exactly that (mlflow/store/model_registry/abstract_store.py); the
server decides prompt-ness from those tags (mlflow/server/handlers.py `_is_prompt_request`).

Quorum adds what governance needs: prompt-ness and a version's template are fixed at creation (a
tag change cannot turn a model into a prompt or rewrite an approved template), a prompt's versions
are prompt versions and a model's are not, and a prompt version's evidence is its template digest.
Pure decisions, no I/O, except `model_is_prompt` (one indexed lookup when the caller has no answer)
and `version_template`.
"""

import hashlib

from django.db.models import Exists, OuterRef, Q

from registry.errors import InvalidParameter

IS_PROMPT_TAG_KEY = "mlflow.prompt.is_prompt"
PROMPT_TEXT_TAG_KEY = "mlflow.prompt.text"
PROMPT_TYPE_TAG_KEY = "_mlflow_prompt_type"
RESPONSE_FORMAT_TAG_KEY = "_mlflow_prompt_response_format"
MODEL_CONFIG_TAG_KEY = "_mlflow_prompt_model_config"
# What a prompt version is: set once, by the version's creation; changing them afterwards would
# change what an approved version serves.
VERSION_CONTENT_TAG_KEYS = frozenset(
    {
        IS_PROMPT_TAG_KEY,
        PROMPT_TEXT_TAG_KEY,
        PROMPT_TYPE_TAG_KEY,
        RESPONSE_FORMAT_TAG_KEY,
        MODEL_CONFIG_TAG_KEY,
    }
)
# Tags MLflow's server leaves out of the prompt webhook payloads.
PAYLOAD_HIDDEN_TAG_KEYS = frozenset({IS_PROMPT_TAG_KEY, PROMPT_TYPE_TAG_KEY})
# The placeholders MLflow's own senders use as a prompt version's source (mlflow/prompt/constants.py).
SOURCE_PLACEHOLDERS = frozenset({"dummy-source", "prompt-template"})
# MLflow's limit for a template (MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH).
TEXT_MAX = 100_000
STORED_TRUE = "true"


def tags_say_prompt(tags: dict[str, str]) -> bool:
    """MLflow's test: the tag present with a true value, case-insensitively (else not a prompt)."""
    return tags.get(IS_PROMPT_TAG_KEY, "false").lower() == "true"


def tags_canonical(tags: dict[str, str]) -> dict[str, str]:
    """The tags as stored: a true prompt tag is stored as 'true', so the SQL form below matches it."""
    if tags_say_prompt(tags):
        return {**tags, IS_PROMPT_TAG_KEY: STORED_TRUE}
    return tags


def prompt_tag_q() -> Q:
    """The tag row that makes its model or version a prompt (the SQL form of `tags_say_prompt`)."""
    return Q(key=IS_PROMPT_TAG_KEY, value=STORED_TRUE)


def is_prompt_annotation() -> Exists:
    """`is_prompt` for a RegisteredModel queryset (the write lock carries it: no extra query)."""
    from registry.models import RegisteredModelTag

    return Exists(RegisteredModelTag.objects.filter(prompt_tag_q(), model_id=OuterRef("pk")))


def model_is_prompt(model) -> bool:
    """Whether a registered model is a prompt; from the lock's annotation when it carries one."""
    known = getattr(model, "is_prompt", None)
    if known is not None:
        return bool(known)
    return model.tags.filter(prompt_tag_q()).exists()


def version_source_check(source: object) -> None:
    """A prompt version's source is an MLflow placeholder (MLflow's server refuses any other)."""
    if source not in SOURCE_PLACEHOLDERS:
        raise InvalidParameter(
            f"Invalid prompt source: '{str(source)[:200]}'. Prompt sources must use an MLflow placeholder.",
            field="source",
        )


def copy_source_check(source: str, *, source_is_prompt: bool) -> None:
    """A prompt version is no model version's source (MLflow's server refuses it with these words)."""
    if source_is_prompt:
        raise InvalidParameter(
            f"Invalid model version source: '{source[:200]}'. Prompt versions cannot be used as "
            "model version sources.",
            field="source",
        )


def version_kind_check(*, name: str, model_is_prompt: bool, version_is_prompt: bool) -> None:
    """A prompt's versions are prompt versions and a model's versions are model versions.

    MLflow's client never mixes them; refusing the mix keeps a placeholder-sourced version (which
    carries no artifacts) out of a model's governed targets, and artifacts out of a prompt's.
    """
    if model_is_prompt and not version_is_prompt:
        raise InvalidParameter(
            f"'{name}' is a prompt: its versions are prompt versions (tag '{IS_PROMPT_TAG_KEY}' = 'true' "
            "and a template); register a model version under a registered model instead.",
            field="tags",
        )
    if version_is_prompt and not model_is_prompt:
        raise InvalidParameter(
            f"'{name}' is a registered model, not a prompt: a prompt version needs a prompt "
            f"(a registered model created with tag '{IS_PROMPT_TAG_KEY}' = 'true').",
            field="tags",
        )


def model_tag_change_check(key: str) -> None:
    """Prompt-ness is fixed at creation: setting or deleting the tag later is refused."""
    if key == IS_PROMPT_TAG_KEY:
        raise InvalidParameter(
            f"Tag '{IS_PROMPT_TAG_KEY}' is set when a registered model is created and cannot change: "
            "a model does not become a prompt (or stop being one) afterwards.",
            field="key",
        )


def version_tag_change_check(key: str) -> None:
    """A version's prompt content is fixed at creation (register a new prompt version instead)."""
    if key in VERSION_CONTENT_TAG_KEYS:
        raise InvalidParameter(
            f"Tag '{key}' is part of what a prompt version is and cannot change after it is created; "
            "register a new prompt version instead.",
            field="key",
        )


def version_template(version) -> str | None:
    """A prompt version's template as stored (text, or chat messages as JSON); None for a model version."""
    from registry.models import ModelVersionTag

    tags = dict(
        ModelVersionTag.objects.filter(
            version=version, key__in=(IS_PROMPT_TAG_KEY, PROMPT_TEXT_TAG_KEY)
        ).values_list("key", "value")
    )
    if not tags_say_prompt(tags):
        return None
    return tags.get(PROMPT_TEXT_TAG_KEY, "")


def template_digest(template: str) -> str:
    """The evidence of a prompt version: sha256 of its template exactly as stored (text or chat JSON)."""
    return "sha256:" + hashlib.sha256(template.encode("utf-8")).hexdigest()
