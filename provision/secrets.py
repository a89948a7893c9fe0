"""Secrets as a type.

A `Secret` never shows its value through str, repr, format, JSON or pickling; the value is
reachable only through `Secret.reveal()`. Every value ever wrapped is also remembered by the
process-wide `REDACTOR`, so output that was built by mistake from a revealed value is still
masked by value at the last boundary (the CLI's writer, the state and plan-file writers).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

from provision.record import record

MASK = "(sensitive value)"

# Values shorter than this are not redacted by value: masking every "1" or "true" in the output
# would make it unreadable and tells an attacker nothing a 3-character secret would not.
_MIN_REDACT_LEN = 4


@record(kw_only=False)
class Origin:
    """Where a secret came from, safe to show: `env`, `file`, `variable`, `literal`, `env_list`."""

    kind: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}".strip()


class Secret:
    """An opaque sensitive string, possibly with fallback candidates (key rotation)."""

    __slots__ = ("_candidates", "origin")
    _candidates: tuple[str, ...]
    origin: Origin

    def __init__(self, value: str | Iterable[str], origin: Origin | None = None) -> None:
        candidates = (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))
        object.__setattr__(self, "_candidates", candidates)
        object.__setattr__(self, "origin", origin or Origin("literal"))
        for c in candidates:
            REDACTOR.add(c)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    @classmethod
    def unknown(cls, origin: Origin) -> Secret:
        """A secret whose source was not read (`provision validate` reads no secrets)."""
        return cls((), origin)

    @property
    def known(self) -> bool:
        return bool(self._candidates)

    def reveal(self) -> str:
        """The secret's value (its first candidate). The only way to read it."""
        if not self._candidates:
            from provision.errors import ProvisionError

            raise ProvisionError(f"The secret from {self.origin} has not been read")
        return self._candidates[0]

    @property
    def candidates(self) -> tuple[Secret, ...]:
        """Each candidate as a Secret of its own, in priority order."""
        return tuple(Secret(c, self.origin) for c in self._candidates)

    def fingerprint(self, key: bytes) -> str:
        """A keyed hash of the value: comparable across runs, useless without the key."""
        digest = hmac.new(key, self.reveal().encode(), hashlib.sha256).hexdigest()
        return "hmac-sha256:" + digest[:32]

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK}, origin={self.origin})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(
            "\0".join(self._candidates), "\0".join(other._candidates)
        )

    def __hash__(self) -> int:
        return hash(("Secret", self._candidates))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __len__(self) -> int:
        return len(self.reveal())


class Redactor:
    """Masks every known secret value in text. Longest values first, so a secret that contains
    another is masked whole."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) < _MIN_REDACT_LEN or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            self._pattern = None

    def redact(self, text: str) -> str:
        if not self._values:
            return text
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                alternatives = sorted(self._values, key=len, reverse=True)
                pattern = re.compile("|".join(map(re.escape, alternatives)))
                self._pattern = pattern
        return pattern.sub(MASK, text)

    def clear(self) -> None:
        """For tests only."""
        with self._lock:
            self._values.clear()
            self._pattern = None


REDACTOR = Redactor()


def mask(value: Any) -> Any:
    """A JSON-ready copy of value with every Secret replaced by the mask and every known secret
    value inside strings masked too."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, str):
        return REDACTOR.redact(value)
    if isinstance(value, dict):
        return {REDACTOR.redact(str(k)): mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return value


def reveal_all(value: Any) -> Any:
    """A copy of value with every Secret revealed: for comparing and writing, never showing."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Mapping):
        return {k: reveal_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reveal_all(v) for v in value]
    return value


def secrets_in(value: Any) -> Iterator[Secret]:
    """Every Secret inside nested dicts, lists and tuples, in order."""
    if isinstance(value, Secret):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from secrets_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from secrets_in(v)


def contains_secret(value: Any) -> bool:
    return next(secrets_in(value), None) is not None


def protect(value: Any, origin: Origin) -> Any:
    """A copy of value with every string inside it wrapped as a Secret from origin."""
    if isinstance(value, str):
        return Secret(value, origin)
    if isinstance(value, dict):
        return {k: protect(v, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [protect(v, origin) for v in value]
    return value
