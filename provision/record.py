"""Records: dataclasses' behaviour without dataclasses' cost at import.

`dataclasses.dataclass` writes each class's methods as source text and compiles it: about 0.6 ms
per frozen class on the build machine, 35 ms for the 54 classes a `provision plan` imports, a
quarter of its wall time. A record shares one set of generic methods among all classes instead,
driven by a per-class table of fields, so making a class costs about what `class` itself costs.
Instances cost a little more to build (a loop over the table rather than straight-line code);
at 1,000 deployments that is still a small part of a plan.

What a record does, as a frozen, slotted, keyword-only dataclass would:
- `__init__` from the annotated fields of the class and its record bases, in definition order,
  with `field(default=…, default_factory=…, init=…, repr=…, compare=…)`, then `__post_init__`;
- `__repr__`, `__eq__` (same class only) and, when frozen, `__hash__`, over the compared fields;
- frozen: assignment and deletion raise `FrozenInstanceError`; `copy`, `pickle` still work;
- `__slots__` for every field; `fields(cls)` and `replace(obj, **changes)`.
Type checkers see it as a dataclass through `dataclass_transform`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["MISSING", "Field", "FrozenInstanceError", "field", "fields", "is_record", "record",
           "replace"]

T = TypeVar("T")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assignment to, or deletion of, a field of a frozen record."""


class Field:
    """One field of a record: its name and how `__init__`, `__repr__` and `__eq__` treat it."""

    __slots__ = ("compare", "default", "default_factory", "init", "name", "repr")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | Any, init: bool,
                 repr: bool, compare: bool) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("a field cannot have both a default and a default_factory")
        self.name = ""
        self.default, self.default_factory = default, default_factory
        self.init, self.repr, self.compare = init, repr, compare

    def __repr__(self) -> str:
        return f"Field({self.name!r})"

    def initial(self) -> Any:
        """The value the field starts with when not given: its default, a fresh product of its
        default_factory, or MISSING."""
        if self.default_factory is not MISSING:
            return self.default_factory()
        return self.default


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING,
          init: bool = True, repr: bool = True, compare: bool = True
          ) -> Any:
    """Say more about a field than its default: as `dataclasses.field`."""
    return Field(default, default_factory, init, repr, compare)


@overload
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(*, frozen: bool = True, kw_only: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = True, kw_only: bool = True
           ) -> type[T] | Callable[[type[T]], type[T]]:
    """Make cls a record: frozen and keyword-only unless told otherwise."""

    def wrap(c: type[T]) -> type[T]:
        return _make(c, frozen=frozen, kw_only=kw_only)

    return wrap if cls is None else wrap(cls)


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a record class or instance, in `__init__` order."""
    spec = getattr(obj, "__record__", None)
    if spec is None:
        raise TypeError(f"{obj!r} is not a record or a record class")
    return spec.fields  # type: ignore[no-any-return]


def is_record(obj: object) -> bool:
    """Whether obj is a record class or a record."""
    return hasattr(obj, "__record__")


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of obj with some fields changed, built (and checked) by its own `__init__`."""
    spec = getattr(type(obj), "__record__", None)
    if spec is None:
        raise TypeError(f"replace() takes a record, not {type(obj).__name__}")
    for f in spec.fields:
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is not set by __init__; replace() cannot set it")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    if spec.kw_only:
        return type(obj)(**changes)
    args = [changes.pop(f.name) for f in spec.fields if f.init]
    return type(obj)(*args, **changes)


class _Spec:
    """What the generic methods need to know about one record class."""

    __slots__ = ("compared", "fields", "frozen", "init_fields", "kw_only", "later", "name",
                 "post_init", "shown")

    def __init__(self, cls: type, all_fields: tuple[Field, ...], frozen: bool,
                 kw_only: bool) -> None:
        self.name, self.fields = cls.__qualname__, all_fields
        self.frozen, self.kw_only = frozen, kw_only
        self.init_fields = tuple(f for f in all_fields if f.init)
        self.later = tuple(f for f in all_fields if not f.init)
        compared = tuple(f.name for f in all_fields if f.compare)
        self.compared = _getter(compared)
        self.shown = tuple(f.name for f in all_fields if f.repr)
        self.post_init = getattr(cls, "__post_init__", None)


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function from an instance to the tuple of these attributes (attrgetter in C)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    one = operator.attrgetter(*names) if names else None

    def get(obj: Any) -> tuple[Any, ...]:
        return () if one is None else (one(obj),)

    return get


def _own_fields(cls: type) -> list[Field]:
    out = []
    # Since 3.10 a class's __annotations__ are its own, never a base's: inspect.get_annotations
    # would give the same, and inspect costs more at import than every record class together.
    for name, annotation in dict(cls.__annotations__).items():
        text = annotation if isinstance(annotation, str) else repr(annotation)
        if text.startswith(("ClassVar", "typing.ClassVar")):
            continue
        if text.startswith(("InitVar", "dataclasses.InitVar")):
            raise TypeError(f"{cls.__qualname__}.{name}: records have no InitVar")
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(value, MISSING, True, True, True)
        if isinstance(f.default, list | dict | set):
            raise ValueError(f"{cls.__qualname__}.{name}: a mutable default is shared by every "
                             "instance; use default_factory")
        f.name = name
        out.append(f)
    return out


def _make(cls: type[T], *, frozen: bool, kw_only: bool) -> type[T]:
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        base_spec = base.__dict__.get("__record__")
        if base_spec is not None:
            if base_spec.frozen != frozen:
                raise TypeError(f"{cls.__qualname__}: a record base must match its frozenness")
            inherited.update((f.name, f) for f in base_spec.fields)
    own = _own_fields(cls)
    merged = {**inherited, **{f.name: f for f in own}}
    all_fields = tuple(merged.values())
    if not kw_only:
        seen_default = False
        for f in all_fields:
            if not f.init:
                continue
            has_default = f.default is not MISSING or f.default_factory is not MISSING
            if seen_default and not has_default:
                raise TypeError(f"{cls.__qualname__}: non-default field {f.name!r} follows a "
                                "default one")
            seen_default = seen_default or has_default
    body = {k: v for k, v in cls.__dict__.items()
            if k not in merged and k not in ("__dict__", "__weakref__")}
    body["__slots__"] = tuple(f.name for f in own if f.name not in inherited)
    spec = _Spec(cls, all_fields, frozen, kw_only)
    body["__record__"] = spec
    # As dataclasses do: a method the class writes itself is kept; a defined __eq__ alone
    # leaves Python's implicit __hash__ = None, which is not an explicit hash.
    explicit_hash = body.get("__hash__") is not None
    generated: dict[str, object] = {
        "__match_args__": () if kw_only else tuple(f.name for f in spec.init_fields),
        "__init__": _init_kw if kw_only else _init_positional,
        "__repr__": _repr,
        "__eq__": _eq,
    }
    if frozen:
        for name in ("__setattr__", "__delattr__"):
            if name in body:
                raise TypeError(f"{cls.__qualname__}: a frozen record cannot define {name}")
        generated.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr,
                         __getstate__=_getstate, __setstate__=_setstate)
    for name, value in generated.items():
        body.setdefault(name, value)
    if not explicit_hash:
        body["__hash__"] = _hash if frozen else None
    metaclass: Any = type(cls)
    new: type[T] = metaclass(cls.__name__, cls.__bases__, body)
    new.__qualname__ = cls.__qualname__
    return new


_set = object.__setattr__


def _fill(self: Any, spec: _Spec, values: dict[str, Any]) -> None:
    for f in spec.init_fields:
        value = values.pop(f.name) if f.name in values else f.initial()
        if value is MISSING:
            raise TypeError(f"{spec.name}.__init__() missing required argument: {f.name!r}")
        _set(self, f.name, value)
    if values:
        raise TypeError(f"{spec.name}.__init__() got an unexpected keyword argument "
                        f"{next(iter(values))!r}")
    for f in spec.later:
        value = f.initial()
        if value is not MISSING:
            _set(self, f.name, value)
    if spec.post_init is not None:
        spec.post_init(self)


def _init_kw(self: Any, **values: Any) -> None:
    _fill(self, self.__record__, values)


def _init_positional(self: Any, *args: Any, **values: Any) -> None:
    spec: _Spec = self.__record__
    if len(args) > len(spec.init_fields):
        raise TypeError(f"{spec.name}.__init__() takes {len(spec.init_fields)} positional "
                        f"arguments but {len(args)} were given")
    for f, value in zip(spec.init_fields, args, strict=False):
        if f.name in values:
            raise TypeError(f"{spec.name}.__init__() got multiple values for argument "
                            f"{f.name!r}")
        values[f.name] = value
    _fill(self, spec, values)


def _repr(self: Any) -> str:
    spec: _Spec = self.__record__
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in spec.shown)
    return f"{spec.name}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    compared = self.__record__.compared
    return compared(self) == compared(other)


def _hash(self: Any) -> int:
    return hash(self.__record__.compared(self))


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in self.__record__.fields)


def _setstate(self: Any, state: tuple[Any, ...]) -> None:
    for f, value in zip(self.__record__.fields, state, strict=True):
        _set(self, f.name, value)
