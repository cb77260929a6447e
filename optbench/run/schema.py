"""The one validation of experiment settings, shared by configs and the Python API.

The config models of :mod:`optbench.run.config` derive from :class:`StrictModel`, a
frozen pydantic model whose unknown keys are errors with a did-you-mean; the runner's
:class:`~optbench.run.runner.StopCriteria` and :class:`~optbench.run.runner.LogPolicy`,
which are the config's ``stop`` and ``log`` sections, derive from
:class:`SettingsModel`, which raises every validation error as one :class:`ConfigError`
line ``path: rule, got value``. A stopping test given in YAML and
the same test given to :func:`optbench.minimize` are therefore checked by one
definition, with one message. :func:`check_targets` does the same for the fixed-target
levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from optbench.registry import unknown_name_message

__all__ = [
    "ConfigError",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "SettingsModel",
    "StrictModel",
    "Targets",
    "check_targets",
    "error_line",
    "format_path",
    "one_line",
    "rule",
    "short_repr",
]


class ConfigError(ValueError):
    """A config that cannot run; the message is one line naming the path and the rule.

    Raised by a :class:`StrictModel` nested in another one, it keeps its ``loc`` and
    ``rule`` apart so that the outer model reports the full path.
    """

    def __init__(self, message: str, loc: Sequence[str | int] = (), rule: str = "") -> None:
        super().__init__(message)
        self.loc, self.rule = tuple(loc), rule


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines too) made one space."""
    return " ".join(str(text).split())


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters with ``...``."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------ value types
NonNegativeFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]


def _distinct(values: Sequence[Any]) -> Sequence[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"must not repeat a value, got {list(values)}")
    return values


#: Levels of f - f*: finite numbers > 0, none repeated.
Targets = Annotated[list[PositiveFloat], AfterValidator(_distinct)]
_TARGETS = TypeAdapter(Targets)


def check_targets(targets: Any, name: str = "targets") -> tuple[float, ...]:
    """``targets`` as a tuple of floats, validated as a config's ``targets`` are.

    Raises
    ------
    ConfigError
        ``"targets[1]: must be > 0, got -1"`` and the like.
    """
    values = list(targets) if isinstance(targets, (list, tuple, set, frozenset)) else targets
    try:
        return tuple(_TARGETS.validate_python(values))
    except ValidationError as exc:
        raise ConfigError(error_line(exc.errors()[0], (name,))) from None


# ----------------------------------------------------------------------- error lines
_PHRASES = {
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "must be an integer"),
    **dict.fromkeys(("float_type", "float_parsing"), "must be a number"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "must be a mapping"),
    "greater_than": "must be > {gt:g}",
    "greater_than_equal": "must be >= {ge:g}",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "too_short": "must have at least {min_length} item(s)",
    "literal_error": "must be one of {expected}",
}


def format_path(loc: Sequence[str | int]) -> str:
    """``("solvers", 2, "params", "step_size")`` → ``"solvers[2].params.step_size"``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def error_line(error: Any, prefix: Sequence[str | int] = ()) -> str:
    """One pydantic error as ``path: rule, got value`` (``prefix`` starts the path)."""
    loc, text = _located(error, prefix)
    return f"{format_path(loc)}: {text}" if loc else text


def _located(error: Any, prefix: Sequence[str | int] = ()) -> tuple[tuple[str | int, ...], str]:
    """The path and the rule (``must be ..., got ...``) of one pydantic error."""
    context = error.get("ctx") or {}
    kind = error["type"]
    loc = (*prefix, *error["loc"], *context.get("path", ()))
    nested = context.get("error")
    if isinstance(nested, ConfigError) and nested.rule:  # from a nested model's __init__
        loc, text = (*loc, *nested.loc), nested.rule
    elif kind in ("rule", "value_error"):
        text = str(context.get("text", context.get("error")))
    elif kind == "missing":
        text = "required key is missing"
    else:
        msg = error["msg"]
        text = _PHRASES[kind].format(**context) if kind in _PHRASES else msg[:1].lower() + msg[1:]
        text += f", got {short_repr(error['input'])}"
    return loc, one_line(text)


def rule(path: tuple[str | int, ...], text: str) -> PydanticCustomError:
    """A validation error at ``path`` below the model that raises it."""
    return PydanticCustomError("rule", "{text}", {"text": text, "path": path})


# ------------------------------------------------------------------------------ models
class StrictModel(BaseModel):
    """Base of the config models: frozen; unknown keys are errors with a did-you-mean."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def _coerce(cls, data: Any) -> Any:
        """Rewrite a short form of the input before validation (default: none)."""
        return data

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        data = cls._coerce(data)
        for key in data if isinstance(data, dict) else ():
            if key not in cls.model_fields:
                raise rule((key,), unknown_name_message("key", str(key), list(cls.model_fields)))
        return data


class SettingsModel(StrictModel):
    """A :class:`StrictModel` that Python code also builds directly (``StopCriteria``).

    Built directly (``StopCriteria(gtol=...)``), it raises :class:`ConfigError` naming
    the field (``gtol: must be a finite number, got nan``); nested in a config, its
    errors are reported by the config with their full path (``stop.gtol: ...``). The
    config itself is no ``SettingsModel``: pydantic validates a model that overrides
    ``__init__`` through it, without the validation context that plugins need.
    """

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            loc, text = _located(exc.errors()[0])
            line = f"{format_path(loc)}: {text}" if loc else text
            raise ConfigError(line, loc, text) from None
