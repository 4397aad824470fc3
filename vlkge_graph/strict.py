"""Strict construction of typed dataclasses from YAML mappings.

Every YAML file the project reads (configuration, ETL recipes, training recipes) goes through
``build``, so a misspelt key, a wrong type or a missing value is always reported the same way:
with the file and the dotted key path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vlkge_graph.errors import ConfigError

T = TypeVar("T")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, raising ConfigError (with the file and the parser's line) on failure."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data


def build(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass ``cls`` from ``data``; ``where`` (e.g. ``"recipe.yaml: graph"``) prefixes errors."""
    return _convert(cls, data, where)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ConfigError as exc:
                errors.append((option, str(exc)))
        # A mapping meant for a dataclass option: its own error (e.g. an unknown key) says more.
        shaped = [e for option, e in errors if isinstance(value, dict) and dataclasses.is_dataclass(option)]
        if len(errors) == 1 or len(shaped) == 1:
            raise ConfigError((shaped or [errors[0][1]])[0])
        raise ConfigError(f"{where}: {value!r} matches no allowed type")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        key_tp, val_tp = typing.get_args(tp) or (Any, Any)
        return {_convert(key_tp, k, f"{where}.{k}"): _convert(val_tp, v, f"{where}.{k}")
                for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported field type {tp!r} at {where}")  # a programming error, not user input


def _build_dataclass(cls: Any, value: Any, where: str) -> Any:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where.rstrip(':')}: expected a mapping, got {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    # a field with metadata {"yaml": False} is set by code, never by the file
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ConfigError(f"{where.rstrip(':')}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, field in fields.items():
        key_where = f"{where}.{name}" if where and not where.endswith(":") else f"{where} {name}".strip()
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], key_where)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key_where}: required value is missing")
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # raised by a dataclass's own __post_init__ checks
        raise ConfigError(f"{where.rstrip(':')}: {exc}") from exc
