"""MLflow's search grammar for registered models and model versions, turned into ORM queries.

filter     := ''  |  condition ( AND condition )*
condition  := identifier comparator value
identifier := [ ('attribute' | 'attributes' | 'attr' | 'tag' | 'tags') '.' ] key
key        := bare word (dots allowed after a 'tag.' prefix) | `backticked` | 'quoted' | "quoted"
comparator := = | != | <> | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
value      := 'string' | "string" | integer | '(' string ( ',' string )* ')'

The parser yields `Condition`s; `*_filter_q` maps them to `Q` objects over fixed field names, so
user text only ever reaches the database as query parameters. Every failure is an
`InvalidParameter` (400 INVALID_PARAMETER_VALUE) that says what is wrong and where.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Prefetch, Q, QuerySet, TextField, prefetch_related_objects, sql
from django.db.models.constants import LOOKUP_SEP
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor, ReverseManyToOneDescriptor
from django.db.models.lookups import Lookup

from registry import prompts
from registry.errors import InvalidParameter

IS_PROMPT_TAG_KEY = prompts.IS_PROMPT_TAG_KEY
FILTER_MAX = 10_000
ORDER_BY_MAX = 1_000
MODELS_MAX_RESULTS = 1000
MODELS_DEFAULT_RESULTS = 100
VERSIONS_MAX_RESULTS = 200_000
VERSIONS_DEFAULT_RESULTS = 200_000


# --- Case-sensitive LIKE and case-insensitive ILIKE on every backend ----------------------


def like_to_glob(pattern: str) -> str:
    """Translate a SQL LIKE pattern (`%`, `_`, backslash escapes) into an SQLite GLOB pattern."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            escaped = next(chars, "\\")
            out.append(f"[{escaped}]" if escaped in "*?[" else escaped)
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


class CaseSensitiveLike(Lookup):
    """`field__quorum_like=pattern`: SQL LIKE that is case-sensitive everywhere, as MLflow's is."""

    lookup_name = "quorum_like"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "sqlite":
            # SQLite's LIKE folds ASCII case; GLOB is case-sensitive, so translate the pattern.
            return f"{lhs} GLOB {rhs}", [*lhs_params, *[like_to_glob(p) for p in rhs_params]]
        if connection.vendor == "mysql":
            return f"{lhs} LIKE BINARY {rhs}", [*lhs_params, *rhs_params]
        return f"{lhs} LIKE {rhs}", [*lhs_params, *rhs_params]


class CaseInsensitiveLike(Lookup):
    """`field__quorum_ilike=pattern`: SQL ILIKE semantics on every backend."""

    lookup_name = "quorum_ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        params = [*lhs_params, *rhs_params]
        if connection.vendor == "postgresql":
            return f"{lhs} ILIKE {rhs}", params
        if connection.vendor == "sqlite":
            return f"{lhs} LIKE {rhs} ESCAPE '\\'", params
        return f"UPPER({lhs}) LIKE UPPER({rhs})", params


for _field in (CharField, TextField):
    _field.register_lookup(CaseSensitiveLike)
    _field.register_lookup(CaseInsensitiveLike)


# --- Tokenizer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, STRING, BACKTICK, NUMBER, OP, LPAREN, RPAREN, COMMA, DOT, END
    text: str
    position: int


TOKEN_PATTERN = re.compile(
    r"""
    (?P<SPACE>\s+)
  | (?P<STRING>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<BACKTICK>`[^`]*`)
  | (?P<NUMBER>[+-]?\d+(?:\.\d+)?(?![\w.]))
  | (?P<WORD>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<OP><=|>=|!=|<>|=|<|>)
  | (?P<LPAREN>\()
  | (?P<RPAREN>\))
  | (?P<COMMA>,)
  | (?P<DOT>\.)
    """,
    re.VERBOSE,
)


def _unquote(text: str) -> str:
    quote = text[0]
    return text[1:-1].replace(quote * 2, quote)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = TOKEN_PATTERN.match(text, position)
        if match is None:
            snippet = text[position : position + 20]
            if text[position] in "'\"`":
                raise InvalidParameter(
                    f"Invalid filter: unterminated quote at position {position}: {snippet!r}.", field="filter"
                )
            raise InvalidParameter(
                f"Invalid filter: unexpected character {text[position]!r} at position {position}.",
                field="filter",
            )
        kind = match.lastgroup or ""
        if kind != "SPACE":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("END", "", len(text)))
    return tokens


# --- Grammar ------------------------------------------------------------------------------

ATTRIBUTE_PREFIXES = {"attribute", "attributes", "attr"}
TAG_PREFIXES = {"tag", "tags"}
STRING_COMPARATORS = {"=", "!=", "LIKE", "ILIKE"}
NUMERIC_COMPARATORS = {"=", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class Condition:
    kind: str  # "attribute" or "tag"
    key: str
    comparator: str  # canonical: = != < <= > >= LIKE ILIKE IN NOT IN
    value: Any  # str, int, or tuple[str, ...] for IN / NOT IN


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "END":
            self.index += 1
        return token

    def error(self, why: str, token: Token | None = None) -> InvalidParameter:
        token = token or self.current
        where = "at the end" if token.kind == "END" else f"at position {token.position} ({token.text!r})"
        return InvalidParameter(f"Invalid filter '{self.text}': {why} {where}.", field="filter")

    def is_word(self, token: Token, *words: str) -> bool:
        return token.kind == "WORD" and token.text.upper() in words

    def parse(self) -> list[Condition]:
        if self.current.kind == "END":
            return []
        conditions = [self.condition()]
        while self.current.kind != "END":
            token = self.current
            if self.is_word(token, "OR"):
                raise InvalidParameter(
                    f"Invalid clause(s) in filter string: OR. Only AND is supported (position {token.position}).",
                    field="filter",
                )
            if not self.is_word(token, "AND"):
                raise self.error("expected AND between conditions")
            self.advance()
            conditions.append(self.condition())
        return conditions

    def condition(self) -> Condition:
        kind, key = self.identifier()
        comparator = self.comparator()
        if comparator in ("IN", "NOT IN"):
            value: Any = self.value_list()
        else:
            value = self.scalar()
        return Condition(kind, key, comparator, value)

    def key_token(self, *, dotted: bool) -> str:
        token = self.advance()
        if token.kind in ("STRING", "BACKTICK"):
            key = _unquote(token.text)
        elif token.kind == "WORD":
            key = token.text
            # Unquoted tag keys may contain dots (tags.mlflow.note): take the words as one key.
            while dotted and self.current.kind == "DOT" and self.tokens[self.index + 1].kind == "WORD":
                self.advance()
                key += "." + self.advance().text
        else:
            raise self.error("expected a key", token)
        if not key:
            raise self.error("empty key", token)
        return key

    def identifier(self) -> tuple[str, str]:
        first = self.current
        if first.kind == "WORD" and self.tokens[self.index + 1].kind == "DOT":
            prefix = first.text.lower()
            if prefix in TAG_PREFIXES:
                self.advance()
                self.advance()
                return "tag", self.key_token(dotted=True)
            if prefix in ATTRIBUTE_PREFIXES:
                self.advance()
                self.advance()
                return "attribute", self.key_token(dotted=False)
            raise self.error(f"invalid entity type '{first.text}'; expected 'attribute' or 'tag'", first)
        if first.kind in ("WORD", "BACKTICK", "STRING"):
            return "attribute", self.key_token(dotted=False)
        raise self.error("expected an attribute or tag name", first)

    def comparator(self) -> str:
        token = self.advance()
        if token.kind == "OP":
            return "!=" if token.text == "<>" else token.text
        if self.is_word(token, "LIKE", "ILIKE", "IN"):
            return token.text.upper()
        if self.is_word(token, "NOT") and self.is_word(self.current, "IN"):
            self.advance()
            return "NOT IN"
        if self.is_word(token, "IS"):
            raise self.error("IS NULL / IS NOT NULL comparisons are not supported", token)
        raise self.error("expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)", token)

    def scalar(self) -> str | int:
        token = self.advance()
        if token.kind == "STRING":
            return _unquote(token.text)
        if token.kind == "NUMBER":
            if not re.fullmatch(r"[+-]?\d+", token.text):
                raise self.error("expected an integer", token)
            return int(token.text)
        raise self.error("expected a quoted string or a number", token)

    def value_list(self) -> tuple[str, ...]:
        if self.current.kind != "LPAREN":
            raise self.error("expected '(' after IN")
        self.advance()
        values: list[str] = []
        while True:
            token = self.advance()
            if token.kind != "STRING":
                raise self.error("expected a quoted string in the IN list", token)
            values.append(_unquote(token.text))
            separator = self.advance()
            if separator.kind == "RPAREN":
                return tuple(values)
            if separator.kind != "COMMA":
                raise self.error("expected ',' or ')' in the IN list", separator)


def parse_filter(text: object) -> list[Condition]:
    """Parse an MLflow filter string into conditions (ANDed). Raises only InvalidParameter."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidParameter("Parameter 'filter' must be a string.", field="filter")
    if len(text) > FILTER_MAX:
        raise InvalidParameter(f"Filter is longer than {FILTER_MAX} characters.", field="filter")
    if "\x00" in text:
        raise InvalidParameter("Invalid filter: NUL characters are not allowed.", field="filter")
    return _Parser(text).parse()


# --- Conditions -> Q ----------------------------------------------------------------------


@dataclass(frozen=True)
class EntitySpec:
    """What one entity allows: attribute -> (ORM field, 'string' | 'numeric', IN allowed)."""

    label: str
    attributes: dict[str, tuple[str, str, bool]]
    tag_owner: str  # the tag table's column pointing back at the entity


MODEL_SPEC = EntitySpec(
    label="registered models",
    attributes={"name": ("name", "string", True)},
    tag_owner="model_id",
)
VERSION_SPEC = EntitySpec(
    label="model versions",
    attributes={
        "name": ("model__name", "string", True),
        "run_id": ("run_id", "string", True),
        "source_path": ("source", "string", False),
        "version_number": ("version", "numeric", False),
    },
    tag_owner="version_id",
)

LOOKUPS = {
    "=": "exact",
    "LIKE": "quorum_like",
    "ILIKE": "quorum_ilike",
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
}


def like_pattern_closed(pattern: str) -> str:
    """A trailing lone backslash escapes nothing: make it a literal one (PostgreSQL rejects it)."""
    escaped = False
    for ch in pattern:
        escaped = not escaped and ch == "\\"
    return pattern + "\\" if escaped else pattern


def _compare(field: str, comparator: str, value: Any) -> Q:
    if comparator == "!=":
        return ~Q(**{f"{field}__exact": value})
    if comparator == "IN":
        return Q(**{f"{field}__in": list(value)})
    if comparator == "NOT IN":
        return ~Q(**{f"{field}__in": list(value)})
    if comparator in ("LIKE", "ILIKE"):
        value = like_pattern_closed(value)
    return Q(**{f"{field}__{LOOKUPS[comparator]}": value})


def _attribute_q(spec: EntitySpec, condition: Condition) -> Q:
    if condition.key not in spec.attributes:
        raise InvalidParameter(
            f"Invalid attribute key '{condition.key}' for {spec.label}; valid keys are "
            f"{', '.join(sorted(spec.attributes))}.",
            field="filter",
        )
    field, kind, allows_in = spec.attributes[condition.key]
    comparator, value = condition.comparator, condition.value
    if kind == "numeric":
        if comparator not in NUMERIC_COMPARATORS:
            raise InvalidParameter(
                f"Invalid comparator '{comparator}' for attribute '{condition.key}'; use one of "
                "=, !=, <, <=, >, >=.",
                field="filter",
            )
        if isinstance(value, str):
            if not re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
                raise InvalidParameter(
                    f"Invalid value for '{condition.key}': expected an integer, got '{value}'.",
                    field="filter",
                )
            value = int(value)
        if abs(value) > 2**62:
            raise InvalidParameter(f"Value for '{condition.key}' is out of range.", field="filter")
        return _compare(field, comparator, value)
    allowed = STRING_COMPARATORS | ({"IN", "NOT IN"} if allows_in else set())
    if comparator not in allowed:
        raise InvalidParameter(
            f"Invalid comparator '{comparator}' for attribute '{condition.key}'; use one of "
            f"{', '.join(sorted(allowed))}.",
            field="filter",
        )
    if not isinstance(value, str | tuple):
        raise InvalidParameter(
            f"Invalid value for attribute '{condition.key}': strings must be quoted, got {value}.",
            field="filter",
        )
    return _compare(field, comparator, value)


def _tag_q(spec: EntitySpec, condition: Condition) -> Q:
    comparator, value = condition.comparator, condition.value
    if comparator not in STRING_COMPARATORS:
        raise InvalidParameter(
            f"Invalid comparator '{comparator}' for tag '{condition.key}'; use one of =, !=, LIKE, ILIKE.",
            field="filter",
        )
    if not isinstance(value, str):
        raise InvalidParameter(
            f"Invalid value for tag '{condition.key}': tag values must be quoted strings.", field="filter"
        )
    # A tag condition matches rows carrying the tag with a matching value (MLflow joins on the tag).
    matched = Q(pk__in=_tag_owners(spec, Q(key=condition.key) & _compare("value", comparator, value)))
    if condition.key == IS_PROMPT_TAG_KEY and (
        (comparator == "=" and value == "false") or (comparator == "!=" and value == "true")
    ):
        # Ordinary models have no prompt tag at all; for this tag "missing" means "not a prompt".
        return matched | ~Q(pk__in=_tag_owners(spec, Q(key=condition.key)))
    return matched


def _tag_owners(spec: EntitySpec, condition: Q) -> QuerySet:
    """Ids of the entities having a tag row that satisfies `condition` (one row, not any rows)."""
    from registry.models import ModelVersionTag, RegisteredModelTag

    if spec.tag_owner == "model_id":
        return RegisteredModelTag.objects.filter(condition).values("model_id")
    return ModelVersionTag.objects.filter(condition).values("version_id")


def is_querying_prompts(conditions: list[Condition]) -> bool:
    """Whether the filter asks for prompts explicitly (as MLflow decides it)."""
    for condition in conditions:
        if (
            condition.kind == "tag"
            and condition.key == IS_PROMPT_TAG_KEY
            and isinstance(condition.value, str)
        ):
            value = condition.value.lower()
            return (condition.comparator == "=" and value == "true") or (
                condition.comparator == "!=" and value == "false"
            )
    return False


def conditions_q(spec: EntitySpec, conditions: list[Condition]) -> Q:
    result = Q()
    for condition in conditions:
        if condition.kind == "tag":
            result &= _tag_q(spec, condition)
        else:
            result &= _attribute_q(spec, condition)
    return result


def registered_model_filter_q(text: object) -> tuple[Q, bool]:
    """The Q for a registered-model filter, and whether the filter asks for prompts."""
    conditions = parse_filter(text)
    return conditions_q(MODEL_SPEC, conditions), is_querying_prompts(conditions)


def model_version_filter_q(text: object) -> tuple[Q, bool]:
    """The Q for a model-version filter, and whether the filter asks for prompts."""
    conditions = parse_filter(text)
    return conditions_q(VERSION_SPEC, conditions), is_querying_prompts(conditions)


# --- order_by -----------------------------------------------------------------------------

MODEL_ORDER_KEYS = {"name": "name", "timestamp": "updated_at", "last_updated_timestamp": "updated_at"}
VERSION_ORDER_KEYS = {
    "name": "model__name",
    "version_number": "version",
    "creation_timestamp": "created_at",
    "last_updated_timestamp": "updated_at",
}


def _order_clause(raw: object, keys: dict[str, str]) -> tuple[str, bool]:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidParameter("Invalid order_by clause: it is empty.", field="order_by")
    if len(raw) > ORDER_BY_MAX:
        raise InvalidParameter("Invalid order_by clause: too long.", field="order_by")
    parser = _Parser(raw)
    token = parser.current
    if token.kind == "WORD" and parser.tokens[1].kind == "DOT" and token.text.lower() in ATTRIBUTE_PREFIXES:
        parser.advance()
        parser.advance()
    key_token = parser.current
    if key_token.kind not in ("WORD", "BACKTICK", "STRING"):
        raise InvalidParameter(f"Invalid order_by clause '{raw}': expected a key.", field="order_by")
    key = parser.key_token(dotted=False)
    ascending = True
    if parser.is_word(parser.current, "ASC", "DESC"):
        ascending = parser.advance().text.upper() == "ASC"
    if parser.current.kind != "END":
        raise InvalidParameter(
            f"Invalid order_by clause '{raw}': unexpected '{parser.current.text}'; "
            "expected '<key> [ASC|DESC]'.",
            field="order_by",
        )
    if key not in keys:
        raise InvalidParameter(
            f"Invalid order by key '{key}' specified. Valid keys are {', '.join(sorted(keys))}.",
            field="order_by",
        )
    return keys[key], ascending


def _ordering(
    order_by: list[str] | None, keys: dict[str, str], tiebreakers: list[str], default: list[str]
) -> list[str]:
    if not order_by:
        return default
    fields: list[str] = []
    seen: set[str] = set()
    for raw in order_by:
        field, ascending = _order_clause(raw, keys)
        if field in seen:
            raise InvalidParameter(f"`order_by` contains duplicate fields: {order_by}", field="order_by")
        seen.add(field)
        fields.append(field if ascending else f"-{field}")
    fields.extend(t for t in tiebreakers if t.lstrip("-") not in seen)
    return fields


def registered_model_ordering(order_by: list[str] | None) -> list[str]:
    """ORM ordering for MLflow `order_by` clauses on registered models; `name ASC` breaks ties."""
    return _ordering(order_by, MODEL_ORDER_KEYS, ["name"], ["name"])


def model_version_ordering(order_by: list[str] | None) -> list[str]:
    """ORM ordering for model versions; MLflow's default is newest-updated first."""
    return _ordering(
        order_by,
        VERSION_ORDER_KEYS,
        ["model__name", "-version"],
        ["-updated_at", "model__name", "-version"],
    )


# --- Paging -------------------------------------------------------------------------------


class _PagedQuerySet(QuerySet):
    """A queryset whose one-level prefetches (tags, aliases; creator, model) cost a query and no more.

    Django's prefetch_related filters the related table by the fetched instances (per-instance
    value extraction) and then builds and filters one related queryset per instance (a clone and a
    lookup, ~25 us each): 400 of them for a page of 100 models, the biggest cost of a search that
    returns many rows. Here the related rows come in one query by owner id, and each instance gets
    a bare queryset over its rows in the cache prefetch_related fills, so `model.tags.all()` reads
    them from memory exactly as after prefetch_related. A prefetched foreign key (the creator)
    loads each distinct object once instead of one copy per row as select_related does. Other
    lookups take Django's path.
    """

    def _prefetch_related_objects(self) -> None:
        rows = self._result_cache or []
        django_lookups = []
        for lookup in self._prefetch_related_lookups:
            if not (rows and (_attach_forward_row(rows, lookup) or _attach_reverse_rows(rows, lookup))):
                django_lookups.append(lookup)
        if django_lookups:
            prefetch_related_objects(rows, *django_lookups)
        self._prefetch_done = True


def _attach_forward_row(instances: list, lookup: object) -> bool:
    """Prefetch `lookup` if it is a plain foreign key to a primary key (one query, one object per id)."""
    if not isinstance(lookup, str) or LOOKUP_SEP in lookup:
        return False
    descriptor = getattr(type(instances[0]), lookup, None)
    if type(descriptor) is not ForwardManyToOneDescriptor or not descriptor.field.target_field.primary_key:
        return False
    field = descriptor.field  # e.g. ModelVersion.creator
    db = instances[0]._state.db
    ids = {getattr(instance, field.attname) for instance in instances} - {None}
    found = (
        {row.pk: row for row in field.related_model._base_manager.db_manager(db).filter(pk__in=ids)}
        if ids
        else {}
    )
    for instance in instances:
        field.set_cached_value(instance, found.get(getattr(instance, field.attname)))
    return True


def _attach_reverse_rows(instances: list, lookup: object) -> bool:
    """Prefetch `lookup` if it is a one-level reverse foreign key to the primary key; False otherwise."""
    name = lookup.prefetch_to if isinstance(lookup, Prefetch) else lookup
    if not isinstance(name, str) or LOOKUP_SEP in name or getattr(lookup, "to_attr", None):
        return False
    descriptor = getattr(type(instances[0]), name, None)
    if (
        not isinstance(descriptor, ReverseManyToOneDescriptor)
        or not descriptor.field.target_field.primary_key
    ):
        return False
    field = descriptor.field  # the foreign key on the related model, e.g. ModelVersionTag.version
    queryset = lookup.queryset if isinstance(lookup, Prefetch) else None
    if queryset is None:
        queryset = field.model._default_manager.all()
    db = instances[0]._state.db
    owners = {instance.pk: instance for instance in instances}
    related: dict = {}
    for row in queryset.using(db).filter(**{f"{field.attname}__in": list(owners)}):
        owner = getattr(row, field.attname)
        field.set_cached_value(row, owners[owner])  # row.<foreign key> needs no query
        related.setdefault(owner, []).append(row)
    cache_name = field.remote_field.cache_name
    unfiltered = sql.Query(field.model)  # shared: a _RelatedRows never builds on it
    for pk, instance in owners.items():
        attached = _RelatedRows(model=field.model, query=unfiltered, using=db)
        attached._result_cache = related.get(pk, [])
        attached._prefetch_done = True
        attached._owner, attached._relation = instance, name
        if not hasattr(instance, "_prefetched_objects_cache"):
            instance._prefetched_objects_cache = {}
        instance._prefetched_objects_cache[cache_name] = attached
    return True


class _RelatedRows(QuerySet):
    """One instance's prefetched related rows; anything built on them queries the relation itself.

    Reading (iteration, len, bool, count, indexing) answers from the rows. Any chained call
    (filter, order_by, first, ...) starts from the owner's related manager with its foreign-key
    filter, so it can never reach another owner's rows.
    """

    def _chain(self) -> QuerySet:
        manager = getattr(self._owner, self._relation)
        return manager._apply_rel_filters(self.model._default_manager.db_manager(self.db).all())._chain()


def paged(qs: QuerySet) -> QuerySet:
    """`qs` as a _PagedQuerySet (same query, same prefetches)."""
    paged = qs._chain()
    paged.__class__ = _PagedQuerySet
    return paged


def page_token_encode(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def page_token_decode(token: object) -> int:
    """Offset from an opaque page token; empty means the first page."""
    if token in (None, ""):
        return 0
    if not isinstance(token, str) or len(token) > 1000:
        raise InvalidParameter("Invalid page token, could not base64-decode", field="page_token")
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidParameter("Invalid page token, could not base64-decode", field="page_token")
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter(f"Invalid page token, decoded value={raw!r}", field="page_token")
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or offset > 2**40:
        raise InvalidParameter("Invalid page token: no valid offset in it.", field="page_token")
    return offset


def max_results_parse(raw: object, *, default: int, maximum: int, minimum: int = 0) -> int:
    if raw in (None, ""):
        return default
    if isinstance(raw, bool):
        raw = str(raw)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and re.fullmatch(r"[+-]?\d{1,19}", raw.strip()):
        value = int(raw)
    else:
        raise InvalidParameter(
            f"Invalid value '{raw}' for parameter 'max_results': it must be an integer.", field="max_results"
        )
    if value < minimum or value > maximum:
        raise InvalidParameter(
            f"Invalid value {value} for parameter 'max_results' supplied. It must be at least {minimum} "
            f"and at most {maximum}.",
            field="max_results",
        )
    return value


def page_slice(queryset: QuerySet, *, max_results: int, page_token: object) -> tuple[list, str | None]:
    """One page of an ordered queryset, and the token of the next page when there is one."""
    offset = page_token_decode(page_token)
    if max_results == 0:
        return [], page_token_encode(offset)
    # One extra row tells whether another page exists, without a COUNT(*).
    rows = list(queryset[offset : offset + max_results + 1])
    if len(rows) > max_results:
        return rows[:max_results], page_token_encode(offset + max_results)
    return rows, None
