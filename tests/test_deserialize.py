"""The default deserializer (sans-IO): JSON text into the type asked for, checked."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import subprocess
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import date, time
from typing import Annotated, Any, ClassVar, Literal, Optional, TypedDict, Union

import msgspec
import pydantic
import pytest
import typing_extensions
from hypothesis import given
from hypothesis import strategies as st

from trio_sse._deserialize import _fields_of, default_deserialize


@dataclass(frozen=True)
class Address:
    city: str
    zip: int


@dataclass(frozen=True)
class Customer:
    name: str
    address: Address
    tags: list[str] = field(default_factory=list)
    score: float = 0.0
    nickname: str | None = None


@dataclass
class Node:
    value: int
    children: list[Node]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class _OrderHead(TypedDict):
    id: int
    lines: list[tuple[str, int]]


class Order(_OrderHead, total=False):
    note: str


class Ping(typing_extensions.TypedDict):  # typing_extensions' own class, NotRequired
    seq: int
    tag: typing_extensions.NotRequired[str]


class PydanticItem(pydantic.BaseModel):
    sku: str
    qty: int


class MsgspecItem(msgspec.Struct):
    sku: str
    qty: int


@dataclass
class Basket:
    owner: Customer
    pydantic_items: list[PydanticItem]
    msgspec_item: MsgspecItem


CUSTOMER_JSON = '{"name": "Ada", "address": {"city": "London", "zip": 1}, "extra": true}'


def test_nested_dataclasses_with_defaults() -> None:
    """Nested dataclasses are built; absent fields take their defaults; keys the class
    does not know are ignored (servers add fields)."""
    assert default_deserialize(Customer, CUSTOMER_JSON) == Customer("Ada", Address("London", 1))
    text = '{"name": "B", "address": {"city": "X", "zip": 2}, "tags": ["a"], "score": 3}'
    got = default_deserialize(Customer, text)
    assert got == Customer("B", Address("X", 2), ["a"], 3.0)
    assert type(got.score) is float  # a JSON integer where a float is declared


def test_recursive_dataclass() -> None:
    text = '{"value": 1, "children": [{"value": 2, "children": []}]}'
    assert default_deserialize(Node, text) == Node(1, [Node(2, [])])


@pytest.mark.parametrize(
    ("model", "text", "where"),
    [
        (Customer, '{"name": "A"}', "Customer needs 'address'"),
        (Customer, '{"name": 5, "address": {"city": "X", "zip": 1}}', "at $.name: expected a str"),
        (Customer, '{"name": "A", "address": {"city": "X", "zip": "1"}}', "at $.address.zip"),
        (Customer, '{"name": "A", "address": {"city": "X", "zip": 1.5}}', "expected an integer"),
        (Customer, '{"name": "A", "address": {"city": "X", "zip": true}}', "expected an integer"),
        (Customer, "[1]", "expected an object for Customer"),
        (Order, '{"id": 1, "lines": [["a", 1, 2]]}', "at $.lines[0]"),
        (Order, '{"lines": []}', "Order needs 'id'"),
        (list[int], "[1, null]", "at $[1]"),
        (dict[str, int], '{"a": "b"}', "at $.a"),
        (Literal["a", "b"], '"c"', "expected one of"),
        (Literal[1], "true", "expected one of"),
        (Color, '"green"', "is not a Color"),
        (int | str, "[]", "expected a value of"),
        (bool, "1", "expected a boolean"),
        (float, '"1"', "expected a number"),
        (type(None), "0", "expected null"),
    ],
)
def test_values_that_do_not_fit_say_where(model: Any, text: str, where: str) -> None:
    """A value of the wrong shape is a ValueError naming the path and what was expected."""
    with pytest.raises(ValueError, match=re.escape(where)):
        default_deserialize(model, text)


def test_bad_json_is_a_value_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        default_deserialize(Customer, "{not json")


def test_typeddicts_containers_unions_literals_enums() -> None:
    order = default_deserialize(Order, '{"id": 7, "lines": [["a", 2]], "other": 1}')
    assert order == {"id": 7, "lines": [("a", 2)]}  # unknown keys dropped
    assert default_deserialize(Order, '{"id": 1, "lines": [], "note": "x"}')["note"] == "x"
    assert default_deserialize(Ping, '{"seq": 1}') == {"seq": 1}
    with pytest.raises(ValueError, match="Ping needs 'seq'"):
        default_deserialize(Ping, '{"tag": "x"}')
    assert default_deserialize(list[int], "[1, 2]") == [1, 2]
    assert default_deserialize(tuple[int, ...], "[1, 2]") == (1, 2)
    assert default_deserialize(set[str], '["a", "a"]') == {"a"}
    assert default_deserialize(frozenset[int], "[1]") == frozenset({1})
    assert default_deserialize(Sequence[int], "[1]") == [1]
    assert default_deserialize(Mapping[str, list[int]], '{"a": [1]}') == {"a": [1]}
    assert default_deserialize(dict, '{"a": [1]}') == {"a": [1]}
    assert default_deserialize(list, "[1, {}]") == [1, {}]
    assert default_deserialize(Optional[int], "null") is None  # noqa: UP045 (the old spelling)
    assert default_deserialize(Union[int, str], '"x"') == "x"  # noqa: UP007
    assert default_deserialize(int | list[int], "[3]") == [3]
    for union in (float | int, int | float):  # equal, so one cached plan serves both
        assert type(default_deserialize(union, "1")) is int
        assert type(default_deserialize(union, "1.5")) is float
    assert default_deserialize(float | None, "2") == 2.0  # no exact member: in order
    assert default_deserialize(Literal["a", "b"], '"b"') == "b"
    assert default_deserialize(Color, '"red"') is Color.RED
    assert default_deserialize(Annotated[int, "meta"], "5") == 5
    assert default_deserialize(Any, '{"a": null}') == {"a": None}
    assert default_deserialize(object, "1.5") == 1.5


def test_str_gets_the_text_as_it_is() -> None:
    """``str`` is the raw data, not a JSON string: SSE data is text first."""
    assert default_deserialize(str, "plain text, not JSON") == "plain text, not JSON"


def test_pydantic_and_msgspec_models_use_their_own_library() -> None:
    """pydantic models and msgspec Structs are validated by their libraries, also nested
    inside a dataclass; their errors are ValueErrors (or msgspec's own)."""
    item = '{"sku": "x", "qty": 2}'
    assert default_deserialize(PydanticItem, item) == PydanticItem(sku="x", qty=2)
    assert default_deserialize(MsgspecItem, item) == MsgspecItem(sku="x", qty=2)
    basket = default_deserialize(
        Basket,
        '{"owner": ' + CUSTOMER_JSON + ', "pydantic_items": [' + item + "], "
        '"msgspec_item": ' + item + "}",
    )
    assert basket.pydantic_items == [PydanticItem(sku="x", qty=2)]
    assert basket.msgspec_item == MsgspecItem(sku="x", qty=2)
    with pytest.raises(pydantic.ValidationError):
        default_deserialize(PydanticItem, '{"sku": "x", "qty": "many"}')
    with pytest.raises(msgspec.ValidationError):
        default_deserialize(MsgspecItem, '{"sku": "x", "qty": "many"}')


def test_pydantic_and_msgspec_are_never_imported_by_the_library() -> None:
    """Optional: the library only uses them when the caller's model already did."""
    code = (
        "import sys, trio_sse, trio_sse._deserialize as d; "
        "d.default_deserialize(list[int], '[1]'); "
        "assert 'pydantic' not in sys.modules and 'msgspec' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    "model",
    [dict[int, str], bytes, complex, type("Plain", (), {})],
    ids=lambda m: repr(m),
)
def test_types_it_cannot_build_are_a_type_error(model: Any) -> None:
    with pytest.raises(TypeError, match=r"cannot build|JSON object keys"):
        default_deserialize(model, "{}")


@dataclass
class Row:
    n: int
    ratio: float
    label: str | None
    flags: list[bool]
    inner: Address | None


ROWS = st.builds(
    Row,
    n=st.integers(),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    label=st.none() | st.text(),
    flags=st.lists(st.booleans()),
    inner=st.none() | st.builds(Address, city=st.text(), zip=st.integers()),
)


@given(ROWS)
def test_dataclass_round_trip(row: Row) -> None:
    """Whatever a dataclass dumps to JSON comes back equal."""
    text = json.dumps(dataclasses.asdict(row))
    assert default_deserialize(Row, text) == row


# -- the plan caches are bounded ----------------------------------------------------------


def test_the_plan_caches_are_bounded() -> None:
    """A program that makes types on the fly (a dataclass, a Literal per value) does not
    grow the caches without end: past CACHE_SIZE types the oldest plans are forgotten,
    and a forgotten type is planned again when it comes back."""
    from trio_sse import _deserialize

    made = [
        dataclasses.make_dataclass(f"Made{i}", [("n", Literal[i])])
        for i in range(2 * _deserialize.CACHE_SIZE + 10)
    ]
    for i, tp in enumerate(made):
        assert default_deserialize(tp, f'{{"n": {i}}}') == tp(i)
    assert len(_deserialize._decoders) <= _deserialize.CACHE_SIZE
    assert len(_deserialize._plans) <= _deserialize.CACHE_SIZE
    assert made[0] not in _deserialize._decoders
    assert default_deserialize(made[0], '{"n": 0}') == made[0](0)


@dataclass
class Tree:
    value: int
    children: list[Tree]


def test_a_recursive_plan_outlives_its_cache_entry() -> None:
    """A type that contains itself refers to its own plan directly, so a decoder made
    before the type was forgotten by the cache still decodes nested values."""
    from trio_sse import _deserialize

    decode = _deserialize._decoder(Tree)
    for i in range(_deserialize.CACHE_SIZE + 1):
        default_deserialize(Literal[f"flood{i}"], f'"flood{i}"')
    assert Tree not in _deserialize._plans
    text = '{"value": 1, "children": [{"value": 2, "children": []}]}'
    assert decode(text) == Tree(1, [Tree(2, [])])


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class PydanticA(pydantic.BaseModel):
    a: int


class PydanticB(pydantic.BaseModel):
    b: int


class MsgspecA(msgspec.Struct):
    a: int


class MsgspecB(msgspec.Struct):
    b: int


def test_unions_of_pydantic_and_msgspec_models_try_every_member() -> None:
    """A union of models (a payload of one of several shapes) is tried member by
    member, also nested: the first model's validation error is not the answer."""
    assert default_deserialize(PydanticA | PydanticB, '{"b": 1}') == PydanticB(b=1)
    assert default_deserialize(list[MsgspecA | MsgspecB], '[{"b": 2}]') == [MsgspecB(b=2)]
    assert default_deserialize(MsgspecA | int, "3") == 3
    with pytest.raises(ValueError, match=r"at \$\[0\]: expected a value of"):
        default_deserialize(list[PydanticA | PydanticB], '[{"c": 1}]')
    with pytest.raises(ValueError, match=r"at \$\.msgspec_item: "):
        default_deserialize(
            Basket,
            '{"owner": ' + CUSTOMER_JSON + ', "pydantic_items": [], "msgspec_item": {}}',
        )


def test_an_int_enum_does_not_take_a_boolean() -> None:
    """JSON true is not the number 1, though Python's True == 1."""
    assert default_deserialize(Level, "1") is Level.LOW
    with pytest.raises(ValueError, match="is not a Level"):
        default_deserialize(Level, "true")
    with pytest.raises(ValueError, match="is not a Level"):
        default_deserialize(Level, '"1"')


@pytest.mark.parametrize(
    ("model", "text", "where"),
    [
        (Order, "[]", "expected an object for Order"),
        (Order, '"id"', "expected an object for Order"),
        (dict[str, int], "[1]", "at $: expected an object, got an array"),
        (list[str], '"ab"', "at $: expected an array, got a string"),
        (set[int], "{}", "at $: expected an array, got an object"),
        (tuple[int, int], "[1]", "expected an array of 2"),
        (tuple[int, int], "[1, 2, 3]", "expected an array of 2"),
        (float, "true", "expected a number, got a boolean"),
        (int, "1.0", "expected an integer"),
    ],
)
def test_wrong_json_kinds_are_refused(model: Any, text: str, where: str) -> None:
    """Each shape checks the JSON kind itself: an object is not an array, a boolean is
    not a number, a string is not a list of characters."""
    with pytest.raises(ValueError, match=re.escape(where)):
        default_deserialize(model, text)


class Patch(TypedDict, total=False):
    op: typing_extensions.Required[str]
    value: int


@dataclass
class Stamped:
    body: str
    seen: int = field(init=False, default=0)


def test_required_keys_of_a_partial_typeddict_and_init_false_fields() -> None:
    """``Required`` in a ``total=False`` TypedDict is required (also written as a string
    annotation); a dataclass field with init=False is never taken from the JSON."""
    assert default_deserialize(Patch, '{"op": "add"}') == {"op": "add"}
    with pytest.raises(ValueError, match="Patch needs 'op'"):
        default_deserialize(Patch, '{"value": 1}')
    assert default_deserialize(Stamped, '{"body": "x", "seen": 5}') == Stamped("x")


def test_nested_models_are_validated_by_their_library() -> None:
    """Inside a dataclass a Struct is checked by msgspec (not just constructed) and a
    pydantic model by pydantic; the error names the path."""

    def basket(items: str, item: str) -> str:
        owner = f'{{"owner": {CUSTOMER_JSON}, '
        return owner + f'"pydantic_items": [{items}], "msgspec_item": {item}}}'

    good = '{"sku": "x", "qty": 1}'
    bad = '{"sku": "x", "qty": "many"}'
    assert default_deserialize(Basket, basket(good, good)).msgspec_item.qty == 1
    with pytest.raises(ValueError, match=r"at \$\.msgspec_item: Expected `int`"):
        default_deserialize(Basket, basket(good, bad))
    with pytest.raises(ValueError, match=r"at \$\.pydantic_items\[0\]: 1 validation error"):
        default_deserialize(Basket, basket(bad, good))


def test_annotated_and_qualified_types_check_the_inner_type() -> None:
    """``Annotated[int, ...]`` and a TypedDict's ``NotRequired[str]`` are checked as int
    and str, not taken as they come."""
    with pytest.raises(ValueError, match=r"at \$: expected an integer"):
        default_deserialize(Annotated[int, "meta"], '"5"')
    with pytest.raises(ValueError, match=r"at \$\.tag: expected a str"):
        default_deserialize(Ping, '{"seq": 1, "tag": 2}')


@dataclass
class Percent:
    value: float

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 100:
            raise ValueError("a percentage is between 0 and 100")


def test_a_dataclass_that_refuses_its_values_is_a_mismatch() -> None:
    """A ValueError from ``__post_init__`` is a mismatch at its path, so a union tries
    its next member."""
    assert default_deserialize(Percent | float, '{"value": 50}') == Percent(50.0)
    assert default_deserialize(list[Percent | dict[str, float]], '[{"value": 150}]') == [
        {"value": 150.0}
    ]
    with pytest.raises(ValueError, match=r"at \$\[0\]: Percent: a percentage is between"):
        default_deserialize(list[Percent], '[{"value": 150}]')


@dataclass
class Natural:
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise TypeError("n must be a natural number")


@dataclass(init=False)
class Renamed:
    """Its own __init__ does not take the field's name: every payload is refused."""

    x: int

    def __init__(self, y: int) -> None:
        self.x = y


def test_a_dataclass_constructor_raising_type_error_is_a_mismatch() -> None:
    """A TypeError from the constructor (``__post_init__``'s own check, an argument the
    class does not take) is "does not fit", a ValueError like the others, not "cannot
    build this type"; a union tries its next member."""
    with pytest.raises(ValueError, match=r"at \$: Natural: n must be a natural number"):
        default_deserialize(Natural, '{"n": -1}')
    with pytest.raises(ValueError, match=r"at \$\[0\]: Renamed: .*unexpected keyword"):
        default_deserialize(list[Renamed], '[{"x": 1}]')
    assert default_deserialize(Natural | dict[str, int], '{"n": -1}') == {"n": -1}
    assert default_deserialize(Renamed | Natural, '{"x": 1, "n": 2}') == Natural(2)


@dataclass
class Scaled:
    x: int
    scale: InitVar[int] = 1

    def __post_init__(self, scale: int) -> None:
        self.x *= scale


@dataclass
class Moved:
    name: str
    origin: InitVar[Address]  # required, and itself a dataclass built from the JSON
    city: str = field(init=False, default="")

    def __post_init__(self, origin: Address) -> None:
        self.city = origin.city


def test_init_var_fields_are_taken_from_the_json() -> None:
    """An InitVar is a constructor argument like a field (dataclasses.fields() leaves it
    out): converted to its type, required unless it has a default."""
    assert default_deserialize(Scaled, '{"x": 2, "scale": 3}').x == 6
    assert default_deserialize(Scaled, '{"x": 2}').x == 2
    with pytest.raises(ValueError, match=r"at \$\.scale: expected an integer"):
        default_deserialize(Scaled, '{"x": 2, "scale": "3"}')
    moved = default_deserialize(Moved, '{"name": "a", "origin": {"city": "Oslo", "zip": 1}}')
    assert moved == Moved("a", Address("Oslo", 1))
    assert moved.city == "Oslo"
    with pytest.raises(ValueError, match=r"at \$\.origin\.zip: expected an integer"):
        default_deserialize(Moved, '{"name": "a", "origin": {"city": "Oslo", "zip": "1"}}')
    with pytest.raises(ValueError, match="Moved needs 'origin'"):
        default_deserialize(Moved, '{"name": "a"}')


def test_init_vars_in_unions_and_cached_plans() -> None:
    """A missing or wrong InitVar is a mismatch, so a union tries its next member; the
    plan is made once and serves every later event."""
    from trio_sse import _deserialize

    model = list[Moved | Scaled]
    text = '[{"x": 2, "scale": 5}, {"name": "b", "origin": {"city": "Rome", "zip": 2}}]'
    for _ in range(2):
        first, second = default_deserialize(model, text)
        assert isinstance(first, Scaled)
        assert first.x == 10
        assert isinstance(second, Moved)
        assert second.city == "Rome"
    assert Moved in _deserialize._plans
    assert Scaled in _deserialize._plans
    assert default_deserialize(Moved | dict[str, str], '{"name": "c"}') == {"name": "c"}


# This module's annotations are strings (``from __future__ import annotations``), which
# Python 3.10's typing.get_type_hints refuses for an InitVar: the deserializer evaluates
# those itself, on every version.


@dataclass
class Shifted(Scaled):
    """An InitVar of the base class and one in the module's spelling."""

    shift: dataclasses.InitVar[int] = 0

    def __post_init__(self, scale: int, shift: int) -> None:
        super().__post_init__(scale)
        self.x += shift


@dataclass
class Dated:
    """Fields named like the module's types, whose defaults put those names in the class
    too: an annotation means the module's type (get_type_hints looks there first); a name
    only the class has is found there."""

    class Note(TypedDict):  # a name only the class has
        text: str

    date: date | None = None
    time: InitVar[time | None] = None
    count: ClassVar[int] = 0
    notes: list[Note] = field(default_factory=list)


def test_init_vars_of_a_base_class_and_in_the_module_spelling() -> None:
    assert default_deserialize(Shifted, '{"x": 2, "scale": 3, "shift": 1}').x == 7
    with pytest.raises(ValueError, match=r"at \$\.shift: expected an integer"):
        default_deserialize(Shifted, '{"x": 2, "shift": "1"}')


def comparable(hints: dict[str, Any]) -> dict[str, Any]:
    """``hints`` with each InitVar (which has no ``==``) as ("InitVar", its type)."""
    return {k: ("InitVar", v.type) if isinstance(v, InitVar) else v for k, v in hints.items()}


def test_annotations_named_like_class_attributes_read_the_module() -> None:
    assert comparable(_fields_of(Dated)) == {
        "date": date | None,
        "time": ("InitVar", time | None),
        "count": ClassVar[int],
        "notes": list[Dated.Note],
    }


@pytest.mark.parametrize("tp", [Address, Customer, Node, Basket, Stamped])
@pytest.mark.parametrize("extras", [False, True])
def test_dataclass_annotations_read_as_get_type_hints_reads_them(tp: type, extras: bool) -> None:
    expected = typing.get_type_hints(tp, include_extras=extras)
    assert comparable(_fields_of(tp, extras=extras)) == comparable(expected)


INIT_VAR_HINTS: dict[type, dict[str, object]] = {
    Scaled: {"x": int, "scale": ("InitVar", int)},
    Moved: {"name": str, "origin": ("InitVar", Address), "city": str},
    Shifted: {"x": int, "scale": ("InitVar", int), "shift": ("InitVar", int)},
    Dated: {
        "date": date | None,
        "time": ("InitVar", time | None),
        "count": ClassVar[int],
        "notes": list[Dated.Note],
    },
}


@pytest.mark.parametrize("tp", list(INIT_VAR_HINTS))
@pytest.mark.parametrize("extras", [False, True])
def test_init_var_annotations_read_as_written(tp: type, extras: bool) -> None:
    """Classes with InitVars in string annotations, against their hints written out.
    From Python 3.11 on, typing.get_type_hints gives the same (checked too); 3.10's
    refuses an InitVar in a string annotation, so there only the written hints can be
    the reference."""
    assert comparable(_fields_of(tp, extras=extras)) == INIT_VAR_HINTS[tp]
    if sys.version_info >= (3, 11):
        assert comparable(typing.get_type_hints(tp, include_extras=extras)) == INIT_VAR_HINTS[tp]


def test_an_annotation_that_does_not_resolve_names_the_class() -> None:
    """Refused when the type is planned: a TypeError (the type cannot be built), not the
    NameError of the lookup."""
    for annotation in ["Missing", "InitVar[Missing]"]:
        namespace = {"__module__": __name__}  # where InitVar is
        tp = dataclasses.make_dataclass("Unresolved", [("x", annotation)], namespace=namespace)
        with pytest.raises(TypeError, match=r"annotations of .*Unresolved.*'Missing'"):
            default_deserialize(tp, '{"x": 1}')


GENERIC_MODULE = """
from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import ClassVar, TypeVar

T = TypeVar("T")  # the module's T: the classes' own T must win over it


@dataclass
class Box[T]:
    value: int
    cache: T | None = field(default=None, init=False)


@dataclass
class Registry[T]:
    value: int
    scale: InitVar[int | None] = None
    known: ClassVar[dict[str, T]] = {}
"""


# Before Python 3.12 the syntax does not compile; this is what it makes: each class
# gets a new TypeVar T of its own as ``__type_params__`` (which the deserializer reads on
# every version), distinct from the module's.
GENERIC_MODULE_BEFORE_312 = GENERIC_MODULE.replace(
    "class Box[T]:", "class Box:\n    __type_params__ = (TypeVar('T'),)"
).replace("class Registry[T]:", "class Registry:\n    __type_params__ = (TypeVar('T'),)")


def test_generic_dataclasses_with_string_annotations(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PEP 695 generic dataclass's annotations name its own type parameters, which are
    not module names: they still resolve (a regression of the 3.10 InitVar fix)."""
    module = types.ModuleType("generic_models")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    source = GENERIC_MODULE if sys.version_info >= (3, 12) else GENERIC_MODULE_BEFORE_312
    exec(compile(source, "generic_models.py", "exec"), module.__dict__)
    assert module.Box.__type_params__[0] is not module.T
    (own_t,) = module.Box.__type_params__
    assert _fields_of(module.Box)["cache"] == own_t | None  # the class's T, not the module's
    box = default_deserialize(module.Box, '{"value": 1}')
    assert (box.value, box.cache) == (1, None)
    registry = default_deserialize(module.Registry, '{"value": 2, "scale": 3}')
    assert registry.value == 2
