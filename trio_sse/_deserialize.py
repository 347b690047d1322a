"""Typed events: the default deserializer and the per-event typing of a session.

A deserializer is Ktor's ``(TypeInfo, String) -> Any``: a function of the type asked
for and the event's data text. The default one reads the text as JSON and builds the
type from it: dataclasses (nested, ``InitVar`` fields included), TypedDicts, enums,
``Literal``, unions and the plain containers, checking every value on the way; pydantic
models and msgspec Structs are handed to their own library when it is installed (never
imported here unless the caller's model already comes from it). ``str`` gets the text
as it is.

Building a type is planned once per type (``_converter``; the plans of the last
CACHE_SIZE types are kept) and the plan is run per event, so the work per event is
``json.loads`` plus the checks of the values.
Sans-IO: no trio here, the session calls ``EventTyper.type_events`` per network read.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import logging
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, Union

from ._events import ServerSentEvent, TypedServerSentEvent
from ._exceptions import SSEDeserializationError

__all__ = ["Deserializer", "EventTyper", "check_model", "default_deserialize"]

log = logging.getLogger("trio_sse")

Deserializer = Callable[[Any, str], Any]
"""``(type, text) -> object``: builds an object of ``type`` from an event's data."""

_Convert = Callable[[Any, str], Any]  # (JSON value, path for messages) -> the built value
_T = TypeVar("_T")


class _Mismatch(ValueError):
    """A JSON value that does not fit the type asked for; the message names where."""


def default_deserialize(tp: Any, text: str) -> Any:
    """The default ``deserialize``: JSON ``text`` built into ``tp`` (see the module).

    Raises ValueError (json.JSONDecodeError, a value of the wrong shape, a dataclass
    whose constructor refuses the values with ValueError or TypeError, pydantic's
    ValidationError, msgspec's errors) when the text does not fit, TypeError only when
    ``tp`` is not a type it can build.
    """
    return _decoder(tp)(text)


def check_model(model: object, deserialize: Deserializer) -> None:
    """Refuse, at the call, a ``model`` argument that cannot work: not a type (or a
    mapping of event types to types), or a type the default deserializer cannot build."""
    if isinstance(model, Mapping):
        if not model:
            raise ValueError("model mapping is empty: give at least one event type")
        for event_type, tp in model.items():
            if not isinstance(event_type, str):
                raise TypeError(f"model mapping keys must be event types (str), not {event_type!r}")
            _check_one_model(tp, deserialize)
    else:
        _check_one_model(model, deserialize)


def _check_one_model(tp: object, deserialize: Deserializer) -> None:
    if tp is None or isinstance(tp, (str, bytes, int, float)):
        raise TypeError(f"model must be a type, not {tp!r}")
    if deserialize is default_deserialize:
        _decoder(tp)  # a TypeError now rather than one per event


# -- decoding JSON text ----------------------------------------------------------------------


CACHE_SIZE = 256
"""How many types the default deserializer keeps a plan for (each of its two caches).

A program has few types, but one that makes types on the fly (``Literal[x]`` per
value, a dataclass per message) must not grow the caches without end: past this
many, the type planned longest ago is forgotten (and planned again if it comes back).
A lookup stays one ``dict.get``: nothing is done per event to keep the order."""


def _remember(cache: dict[Any, _T], key: Any, value: _T) -> _T:
    """``cache[key] = value``, forgetting the oldest entries past CACHE_SIZE."""
    cache[key] = value
    while len(cache) > CACHE_SIZE:
        del cache[next(iter(cache))]
    return value


def _decoder(tp: Any) -> Callable[[str], Any]:
    try:
        decoder = _decoders.get(tp)
    except TypeError:  # a type form that cannot be a dict key: planned each time
        return _make_decoder(tp)
    if decoder is None:
        decoder = _remember(_decoders, tp, _make_decoder(tp))
    return decoder


_decoders: dict[Any, Callable[[str], Any]] = {}  # bounded by CACHE_SIZE


def _make_decoder(tp: Any) -> Callable[[str], Any]:
    if tp is str:
        return _identity_text
    pydantic_model = _pydantic_model(tp)
    if pydantic_model is not None:
        return typing.cast(Callable[[str], Any], pydantic_model.model_validate_json)
    if _is_msgspec_struct(tp):
        msgspec = sys.modules["msgspec"]  # imported by whoever defined the Struct
        return typing.cast(Callable[[str], Any], msgspec.json.Decoder(tp).decode)
    convert = _converter(tp)

    def decode(text: str) -> Any:
        return convert(json.loads(text), "$")

    return decode


def _identity_text(text: str) -> str:
    return text


def _pydantic_model(tp: Any) -> Any:
    """``tp`` if it is a pydantic model class, else None; pydantic is never imported here."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return tp
    return None


def _is_msgspec_struct(tp: Any) -> bool:
    msgspec = sys.modules.get("msgspec")
    return msgspec is not None and isinstance(tp, type) and issubclass(tp, msgspec.Struct)


# -- building values from JSON -----------------------------------------------------------------


_plans: dict[Any, _Convert] = {}  # bounded by CACHE_SIZE
# Types being planned, each with the cell its finished plan goes into: a type that
# contains itself (a tree node whose children are nodes) refers to its own plan through
# the cell, never through _plans, from which it may since have been forgotten.
_in_progress: dict[Any, list[_Convert]] = {}


def _converter(tp: Any) -> _Convert:
    """The plan that checks a JSON value against ``tp`` and builds it; TypeError if
    ``tp`` is not a type this deserializer knows."""
    try:
        plan = _plans.get(tp)
    except TypeError:  # unhashable type form: not cached
        return _make_converter(tp)
    if plan is not None:
        return plan
    pending = _in_progress.get(tp)
    if pending is not None:
        return _later(pending)
    cell: list[_Convert] = []
    _in_progress[tp] = cell
    try:
        plan = _make_converter(tp)
    finally:
        del _in_progress[tp]
    cell.append(plan)
    return _remember(_plans, tp, plan)


def _later(cell: list[_Convert]) -> _Convert:
    """The plan that will be in ``cell`` once its type is planned (for recursion)."""
    return lambda value, path: cell[0](value, path)


def _make_converter(tp: Any) -> _Convert:
    if tp is Any or tp is object:
        return _as_is
    if tp is None or tp is type(None):
        return _exact(type(None), "null")
    if tp is bool:
        return _exact(bool, "a boolean")
    if tp is int:
        return _int
    if tp is float:
        return _float
    if tp is str:
        return _exact(str, "a string")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated or _qualifier(tp) is not None:
        return _converter(args[0])
    if origin is Literal:
        return _literal(args)
    if origin is Union or origin is types.UnionType:
        return _union(args, tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp)
    if _pydantic_model(tp) is not None:
        return _pydantic(tp)
    if _is_msgspec_struct(tp):
        return _msgspec(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass(tp)
    if _is_typeddict(tp):
        return _typeddict(tp)
    container = origin if origin is not None else tp
    if container in (list, tuple, set, frozenset, dict) or container in _ABSTRACT:
        return _container(_ABSTRACT.get(container, container), args, tp)
    raise TypeError(f"the default deserializer cannot build {tp!r}; pass deserialize=... for it")


_ABSTRACT: dict[Any, type] = {
    typing.List: list,  # noqa: UP006 (the old spellings still appear in user code)
    typing.Dict: dict,  # noqa: UP006
    typing.Tuple: tuple,  # noqa: UP006
    typing.Set: set,  # noqa: UP006
    typing.FrozenSet: frozenset,  # noqa: UP006
    typing.Sequence: list,
    typing.MutableSequence: list,
    typing.Mapping: dict,
    typing.MutableMapping: dict,
}
for _abc, _concrete in list(_ABSTRACT.items()):
    _ABSTRACT[typing.get_origin(_abc) or _abc] = _concrete


def _is_typeddict(tp: Any) -> bool:
    """typing's TypedDict classes and typing_extensions' (which typing.is_typeddict
    does not know), without importing typing_extensions."""
    return (
        isinstance(tp, type)
        and issubclass(tp, dict)
        and hasattr(tp, "__required_keys__")
        and hasattr(tp, "__total__")
    )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "an object"})
    return names.get(type(value), type(value).__name__)


def _fail(path: str, expected: str, value: Any) -> _Mismatch:
    return _Mismatch(f"at {path}: expected {expected}, got {_describe(value)}")


def _as_is(value: Any, path: str) -> Any:
    return value


def _exact(kind: type, expected: str) -> _Convert:
    def convert(value: Any, path: str) -> Any:
        if type(value) is not kind:
            raise _fail(path, expected, value)
        return value

    return convert


def _int(value: Any, path: str) -> Any:
    if type(value) is not int:
        raise _fail(path, "an integer", value)
    return value


def _float(value: Any, path: str) -> Any:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _fail(path, "a number", value)


def _literal(choices: tuple[Any, ...]) -> _Convert:
    def convert(value: Any, path: str) -> Any:
        for choice in choices:
            if type(choice) is type(value) and choice == value:
                return value
        raise _Mismatch(f"at {path}: expected one of {list(choices)!r}, got {value!r}")

    return convert


def _union(members: tuple[Any, ...], tp: Any) -> _Convert:
    """Try the member whose JSON kind is exactly the value's first (``int | float`` keeps
    1 an int and 1.5 a float, whatever the order: ``int | float == float | int``, so
    one plan serves both spellings), then every member in the order written."""
    options = [_converter(member) for member in members]
    exact: dict[type, _Convert] = {k: _converter(k) for k in _EXACT_KINDS if k in members}
    if type(None) in members or None in members:
        exact[type(None)] = _converter(type(None))

    def convert(value: Any, path: str) -> Any:
        plan = exact.get(type(value))
        if plan is not None:
            return plan(value, path)
        for option in options:
            try:
                return option(value, path)
            except _Mismatch:
                pass
        raise _fail(path, f"a value of {tp!r}", value)

    return convert


_EXACT_KINDS = (bool, int, float, str)


def _enum(tp: type[enum.Enum]) -> _Convert:
    def convert(value: Any, path: str) -> Any:
        try:
            member = tp(value)
        except ValueError:
            raise _Mismatch(f"at {path}: {value!r} is not a {tp.__name__}") from None
        # true == 1: an IntEnum must not take a JSON boolean for its member 1.
        if type(value) is bool and type(member.value) is not bool:
            raise _Mismatch(f"at {path}: {value!r} is not a {tp.__name__}")
        return member

    return convert


def _pydantic(tp: Any) -> _Convert:
    def convert(value: Any, path: str) -> Any:
        try:
            return tp.model_validate(value)
        except ValueError as exc:  # a ValidationError: a mismatch, so a union tries on
            raise _Mismatch(f"at {path}: {exc}") from exc

    return convert


def _msgspec(tp: Any) -> _Convert:
    msgspec = sys.modules["msgspec"]

    def convert(value: Any, path: str) -> Any:
        try:
            return msgspec.convert(value, tp)
        except ValueError as exc:  # a ValidationError: a mismatch, so a union tries on
            raise _Mismatch(f"at {path}: {exc}") from exc

    return convert


def _qualifier(hint: Any) -> str | None:
    """The qualifier of a TypedDict key (Required, NotRequired, ReadOnly) or None; from
    typing or typing_extensions, matched by name (the latter is never imported here)."""
    origin = typing.get_origin(hint)
    name = getattr(origin, "_name", None) or getattr(origin, "__name__", None)
    return name if name in ("Required", "NotRequired", "ReadOnly") else None


def _fields_of(tp: Any, *, extras: bool = False) -> dict[str, Any]:
    """typing.get_type_hints(tp); a dataclass's class by class, as it does (_own_fields)."""
    try:
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            hints: dict[str, Any] = {}
            for cls in reversed(tp.__mro__):
                hints.update(_own_fields(cls, extras))
            return hints
        return typing.get_type_hints(tp, include_extras=extras)
    except Exception as exc:  # NameError for an annotation that does not resolve
        raise TypeError(f"cannot read the annotations of {tp!r}: {exc}") from exc


def _own_fields(cls: type, extras: bool) -> dict[str, Any]:
    """The annotations ``cls`` declares itself, resolved by typing.get_type_hints with
    the names it would use, in its order; but a string that reads as an ``InitVar[T]``
    (``from __future__ import annotations``) is evaluated here, as Python 3.11 and later
    do: Python 3.10's get_type_hints refuses it ("Forward references must evaluate to
    types"), and leaves an InitVar that is no string as it is."""
    module_names = getattr(sys.modules.get(cls.__module__), "__dict__", {})
    # A generic class's own type parameters (``class Box[T]``, Python 3.12+) shadow the
    # module's names, as in the class body; get_type_hints reads them off the class,
    # which the stand-in below is not.
    type_params = getattr(cls, "__type_params__", ())
    if type_params:
        module_names = {**module_names, **{param.__name__: param for param in type_params}}
    class_names = dict(vars(cls))
    annotations = inspect.get_annotations(cls)
    for name, annotation in annotations.items():
        if isinstance(annotation, str):
            try:  # the module's names first, then the class's: get_type_hints' order
                value = eval(annotation, class_names, module_names)
            except Exception:  # get_type_hints says why, below
                continue
            if isinstance(value, dataclasses.InitVar):
                annotations[name] = value
    stand_in = type(cls.__name__, (), {"__annotations__": annotations})
    return typing.get_type_hints(stand_in, class_names, module_names, include_extras=extras)


def _object_fields(
    value: Any, path: str, name: str, required: set[str], plan: list[tuple[str, _Convert]]
) -> dict[str, Any]:
    """The converted fields of a JSON object for a dataclass or TypedDict ``name``: it
    must be an object holding every required key; keys the plan does not know are left."""
    if type(value) is not dict:
        raise _fail(path, f"an object for {name}", value)
    missing = required.difference(value)
    if missing:
        raise _Mismatch(f"at {path}: {name} needs {sorted(missing)[0]!r}")
    return {key: field(value[key], f"{path}.{key}") for key, field in plan if key in value}


def _dataclass(tp: type) -> _Convert:
    hints = _fields_of(tp)
    fields = [f for f in dataclasses.fields(tp) if f.init]
    plan = [(f.name, _converter(hints[f.name])) for f in fields]
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    for key, init_type, has_default in _init_vars(tp, hints):
        plan.append((key, _converter(init_type)))
        if not has_default:
            required.add(key)
    name = tp.__name__

    def convert(value: Any, path: str) -> Any:
        kwargs = _object_fields(value, path, name, required, plan)
        try:
            return tp(**kwargs)  # keys the class does not know are ignored
        except (ValueError, TypeError) as exc:
            # __init__ or __post_init__ refused the values (a TypeError too: a missing
            # argument, a type check): a mismatch like any other, so a union tries on.
            raise _Mismatch(f"at {path}: {name}: {exc}") from exc

    return convert


def _init_vars(tp: type, hints: dict[str, Any]) -> list[tuple[str, Any, bool]]:
    """The ``InitVar`` parameters of a dataclass's constructor: (name, type, has a
    default). dataclasses.fields() leaves them out, but the constructor needs them.

    Found by public means: the resolved annotation is an InitVar (``InitVar[T]`` is an
    instance with ``.type``, a bare ``InitVar`` the class), and the constructor's
    signature says whether it takes the name and whether it has a default."""
    candidates: dict[str, Any] = {}
    for key, hint in hints.items():
        if isinstance(hint, dataclasses.InitVar):
            candidates[key] = hint.type
        elif hint is dataclasses.InitVar:
            candidates[key] = Any
    if not candidates:
        return []
    try:
        parameters = inspect.signature(tp).parameters
    except (TypeError, ValueError):  # no signature to read: the constructor says at call
        return []
    return [
        (key, init_type, parameters[key].default is not inspect.Parameter.empty)
        for key, init_type in candidates.items()
        if key in parameters
    ]


def _typeddict(tp: Any) -> _Convert:
    hints = _fields_of(tp, extras=True)
    plan = [(key, _converter(hint)) for key, hint in hints.items()]
    # __required_keys__ misses Required/NotRequired written as strings (``from __future__
    # import annotations``), so the resolved annotations have the last word.
    required = set(tp.__required_keys__)
    for key, hint in hints.items():
        qualifier = _qualifier(hint)
        if qualifier == "Required":
            required.add(key)
        elif qualifier == "NotRequired":
            required.discard(key)
    name = tp.__name__

    def convert(value: Any, path: str) -> Any:
        return _object_fields(value, path, name, required, plan)

    return convert


def _container(kind: type, args: tuple[Any, ...], tp: Any) -> _Convert:
    if kind is dict:
        key_type, value_type = args or (str, Any)
        if key_type not in (str, Any):
            raise TypeError(f"JSON object keys are strings: cannot build {tp!r}")
        item = _converter(value_type)

        def convert_dict(value: Any, path: str) -> Any:
            if type(value) is not dict:
                raise _fail(path, "an object", value)
            return {key: item(v, f"{path}.{key}") for key, v in value.items()}

        return convert_dict
    if kind is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if args == ((),):  # tuple[()]
            args = ()
        items = [_converter(arg) for arg in args]

        def convert_fixed(value: Any, path: str) -> Any:
            if type(value) is not list or len(value) != len(items):
                raise _fail(path, f"an array of {len(items)}", value)
            pairs = enumerate(zip(items, value, strict=True))
            return tuple(item(v, f"{path}[{i}]") for i, (item, v) in pairs)

        return convert_fixed
    element = _converter(args[0]) if args else _as_is

    def convert_array(value: Any, path: str) -> Any:
        if type(value) is not list:
            raise _fail(path, "an array", value)
        return kind(element(v, f"{path}[{i}]") for i, v in enumerate(value))

    return convert_array


# -- typing a session's events -----------------------------------------------------------------


class EventTyper:
    """Applies a session's ``model`` to its events: one type for every event, or a
    mapping from event type to type (events of other types stay ServerSentEvent).

    With ``skip``, an event whose data does not fit is logged and dropped; otherwise
    the events before it are returned with the SSEDeserializationError to raise."""

    __slots__ = ("_deserialize", "_models", "_single", "_skip")

    def __init__(self, model: Any, deserialize: Deserializer, *, skip: bool) -> None:
        self._deserialize = deserialize
        self._skip = skip
        self._models: dict[str, Any] | None = None
        self._single: Any = None
        if isinstance(model, Mapping):
            self._models = dict(model)
        else:
            self._single = model

    def type_events(
        self, events: list[ServerSentEvent]
    ) -> tuple[list[Any], SSEDeserializationError | None]:
        """The typed events, in order, up to the first that fails (if not skipped)."""
        out: list[Any] = []
        models = self._models
        for event in events:
            if models is None:
                model = self._single
            else:
                model = models.get("message" if event.event is None else event.event)
                if model is None:
                    out.append(event)
                    continue
            data = event.data
            if data is not None:
                try:
                    data = self._deserialize(model, data)
                except Exception as exc:
                    error = SSEDeserializationError(
                        f"event data does not fit {_name(model)}: {exc}", event
                    )
                    error.__cause__ = exc
                    if not self._skip:
                        return out, error
                    log.warning("trio-sse: skipping event (id %r): %s", event.id, error)
                    continue
            out.append(
                TypedServerSentEvent(data, event.event, event.id, event.retry, event.comments)
            )
        return out, None


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)
