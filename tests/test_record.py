"""provision.record behaves as the frozen, slotted dataclasses it replaced: each test states a
dataclasses behaviour, and the parity tests run one class body through both."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from provision.record import FrozenInstanceError, field, fields, record, replace


@record
class Base:
    """A record base: its fields come first."""

    span: str | None = field(default=None, compare=False, repr=False)
    kind: str = "base"


@record
class Item(Base):
    """A keyword-only frozen record with every kind of field."""

    name: str
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict)
    size: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.name))


@record(kw_only=False)
class Point:
    """A positional frozen record."""

    x: int
    y: int = 0


@record(frozen=False, kw_only=False)
class Counter:
    """A mutable record."""

    count: int = 0
    seen: list[str] = field(default_factory=list)


# Pickle needs importable classes, so these live at module level.


def test_init_by_keyword_with_defaults_factories_and_post_init() -> None:
    a = Item(name="abc")
    assert (a.span, a.kind, a.name, a.tags, a.extra, a.size) == (None, "base", "abc", (), {}, 3)
    b = Item(name="x")
    assert a.extra is not b.extra  # a factory runs per instance


def test_init_refuses_what_dataclasses_refuse() -> None:
    with pytest.raises(TypeError, match="missing required argument: 'name'"):
        Item()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        Item(name="a", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'size'"):
        Item(name="a", size=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Item("a")  # type: ignore[misc]
    with pytest.raises(TypeError, match="takes 2 positional arguments but 3"):
        Point(1, 2, 3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)  # type: ignore[misc]


def test_positional_init_and_match_args() -> None:
    assert Point(1) == Point(x=1, y=0)
    assert Point.__match_args__ == ("x", "y")
    match Point(3, 4):
        case Point(x, y):
            assert (x, y) == (3, 4)


def test_repr_skips_repr_false_fields() -> None:
    assert repr(Item(name="n", span="s")) == (
        "Item(kind='base', name='n', tags=(), extra={}, size=1)")
    assert repr(Point(1, 2)) == "Point(x=1, y=2)"


def test_eq_and_hash_ignore_compare_false_and_other_classes() -> None:
    assert Item(name="n", span="here") == Item(name="n", span="there")
    assert hash(Base(span="here")) == hash(Base(span="there"))
    with pytest.raises(TypeError, match="unhashable type: 'dict'"):  # as a dataclass would
        hash(Item(name="n"))
    assert Item(name="n") != Item(name="m")
    assert Point(1, 2) != (1, 2)
    assert {Point(1, 2): "p"}[Point(1, 2)] == "p"


def test_frozen_refuses_assignment_and_deletion() -> None:
    p = Point(1)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'x'"):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del p.x  # type: ignore[misc]
    with pytest.raises(AttributeError):  # FrozenInstanceError is one, as in dataclasses
        p.z = 1  # type: ignore[attr-defined]


def test_mutable_record_assigns_and_is_unhashable() -> None:
    c = Counter()
    c.count += 1
    c.seen.append("x")
    assert c == Counter(1, ["x"])
    with pytest.raises(TypeError):
        hash(c)


def test_slots_hold_every_field_and_nothing_else() -> None:
    assert Item.__slots__ == ("name", "tags", "extra", "size")
    assert Base.__slots__ == ("span", "kind")
    assert not hasattr(Item(name="a"), "__dict__")
    with pytest.raises(AttributeError):
        Counter().other = 1  # type: ignore[attr-defined]


def test_fields_in_init_order() -> None:
    assert [f.name for f in fields(Item)] == ["span", "kind", "name", "tags", "extra", "size"]
    assert [f.name for f in fields(Point(1))] == ["x", "y"]
    with pytest.raises(TypeError):
        fields(object())


def test_replace_rebuilds_through_init() -> None:
    a = Item(name="abc", span="s")
    b = replace(a, name="abcdef")
    assert (b.name, b.size, b.span, b.tags) == ("abcdef", 6, "s", ())  # __post_init__ ran again
    assert replace(Point(1, 2), y=5) == Point(1, 5)
    with pytest.raises(ValueError, match="size"):
        replace(a, size=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        replace(a, nope=1)
    with pytest.raises(TypeError):
        replace(object())


@pytest.mark.parametrize("value", [Item(name="n", tags=("a",), extra={"k": 1}, span="s"),
                                   Point(1, 2), Counter(2, ["a"])])
def test_copy_deepcopy_and_pickle(value: Any) -> None:
    for clone in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert clone == value
        assert type(clone) is type(value)
        assert [getattr(clone, f.name) for f in fields(value)] == \
            [getattr(value, f.name) for f in fields(value)]


def test_definition_errors() -> None:
    with pytest.raises(ValueError, match="mutable default"):
        @record
        class Bad:
            items: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="non-default field 'y' follows a default one"):
        @record(kw_only=False)
        class Order:
            x: int = 0
            y: int

    with pytest.raises(TypeError, match="cannot define __setattr__"):
        @record
        class Sets:
            x: int

            def __setattr__(self, name: str, value: object) -> None:
                pass

    with pytest.raises(ValueError, match="both a default and a default_factory"):
        field(default=1, default_factory=int)


def test_methods_the_class_writes_are_kept() -> None:
    @record
    class Masked:
        value: str

        def __repr__(self) -> str:
            return "Masked(***)"

    assert repr(Masked(value="secret")) == "Masked(***)"


# Parity: one class hierarchy, made by dataclasses and by record, behaves the same.

def _both(kw_only: bool) -> tuple[type, type]:
    def make(decorate: Any, fld: Any) -> type:
        base = decorate(type("B", (), {
            "__annotations__": {"span": "str | None", "kind": "str"},
            "span": fld(default=None, compare=False, repr=False), "kind": "base",
            "__module__": __name__}))

        def post_init(self: Any) -> None:
            object.__setattr__(self, "size", len(self.a) if isinstance(self.a, str) else -1)

        return decorate(type("P", (base,), {
            "__annotations__": {"a": "Any", "b": "str", "c": "tuple[int, ...]",
                                "d": "str | None", "size": "int"},
            "a": "", "b": "x", "c": (), "d": fld(default=None, repr=False),
            "size": fld(init=False, default=0), "__post_init__": post_init,
            "__module__": __name__}))

    dc = make(dataclasses.dataclass(frozen=True, slots=True, kw_only=kw_only), dataclasses.field)
    rc = make(record(kw_only=kw_only), field)
    return dc, rc


@pytest.mark.parametrize("kw_only", [True, False])
@pytest.mark.parametrize("values", [{"a": "one"}, {"a": 2, "b": "y", "span": "s"},
                                    {"a": "zz", "c": (1, 2), "d": "z", "kind": "k"}])
def test_parity_with_dataclasses(kw_only: bool, values: dict[str, Any]) -> None:
    dc, rc = _both(kw_only)
    d, r = dc(**values), rc(**values)
    assert repr(d) == repr(r)
    assert hash(d) == hash(r)
    assert d.size == r.size
    assert [f.name for f in dataclasses.fields(d)] == [f.name for f in fields(r)]
    other = {**values, "span": "elsewhere"}  # compare=False: still equal
    assert dc(**other) == d and rc(**other) == r
    assert (dc(**{**values, "b": "q"}) == d) == (rc(**{**values, "b": "q"}) == r) is False
    d2, r2 = dataclasses.replace(d, a="four"), replace(r, a="four")
    assert (d2.a, d2.size, d2.span) == (r2.a, r2.size, r2.span)
    assert dc.__slots__ == rc.__slots__  # type: ignore[attr-defined]
    assert dc.__match_args__ == rc.__match_args__  # type: ignore[attr-defined]


def test_initvar_is_refused() -> None:
    with pytest.raises(TypeError, match="records have no InitVar"):
        @record
        class Init:
            x: dataclasses.InitVar[int]  # type: ignore[valid-type]
