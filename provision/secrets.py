"""Secrets as a type.

A `Secret` never shows its value through str, repr, format, JSON or pickling; the value is
reachable only through `Secret.reveal()`. Every value ever wrapped is also remembered by the
process-wide `REDACTOR`, so output that was built by mistake from a revealed value is still
masked by value at the last boundary (the CLI's writer, the state and plan-file writers).

A rendered file holds a value escaped for its format (`it'\\''s` in sh, `a\\"b` in JSON), so
the redactor masks each value in every form provision writes it in too: JSON strings as
provision's own JSON documents write them, and whatever each renderer module registers when
imported: the escaper it renders with (`Redactor.add_encoders`).
"""

from __future__ import annotations

import re
from _thread import allocate_lock  # threading's Lock, without importing threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from json.encoder import encode_basestring
from typing import Any, NoReturn

from provision.record import record

MASK = "(sensitive value)"

# Values shorter than this are not redacted by value: masking every "1" or "true" in the output
# would make it unreadable and tells an attacker nothing a 3-character secret would not.
_MIN_REDACT_LEN = 4

# How one output format writes a string's body (without its quotes): JSON's `a\"b` for `a"b`.
# It may raise ValueError for a value the format cannot hold (the renderer refuses it too).
Encoder = Callable[[str], str]


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
        import hashlib  # here, not at the top: see provision.fsutil.sha256_bytes
        import hmac

        digest = hmac.new(key, self.reveal().encode(), hashlib.sha256).hexdigest()
        return "hmac-sha256:" + digest[:32]

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK}, origin={self.origin})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters.
        from hmac import compare_digest

        return isinstance(other, Secret) and compare_digest(
            _candidate_bytes(self._candidates), _candidate_bytes(other._candidates)
        )

    def __hash__(self) -> int:
        return hash(("Secret", self._candidates))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __len__(self) -> int:
        return len(self.reveal())


def _candidate_bytes(candidates: tuple[str, ...]) -> bytes:
    """The candidates, each length-prefixed so that ("a\0b",) and ("a", "b") differ; lone
    surrogates pass, so that comparing never raises."""
    encoded = [c.encode("utf-8", "surrogatepass") for c in candidates]
    return b"".join(len(e).to_bytes(8, "big") + e for e in encoded)


class Redactor:
    """Masks every known secret value in text, as is and in each registered encoding. Longest
    forms first, so a secret that contains another is masked whole.

    The pattern is built on first use after a change, from every value under every encoder;
    encoders are registered once per process (a renderer, when imported), values as secrets
    are read."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._encoders: tuple[Encoder, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self._lock = allocate_lock()

    def add(self, value: str) -> None:
        if len(value) < _MIN_REDACT_LEN or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            self._pattern = None

    def add_encoders(self, *encoders: Encoder) -> None:
        """Mask every value also as each encoder writes it. Register the function a renderer
        itself escapes with, not a copy of it, so the forms cannot drift from the output."""
        with self._lock:
            new = tuple(e for e in dict.fromkeys(encoders) if e not in self._encoders)
            if new:
                self._encoders += new
                self._pattern = None

    def forms(self, value: str) -> set[str]:
        """value and its encodings: what redact masks for it (nothing when it is too short)."""
        if len(value) < _MIN_REDACT_LEN:
            return set()
        out = {value}
        for encode in self._encoders:
            try:
                out.add(encode(value))
            except ValueError:
                continue  # a format that cannot hold the value never writes it
        return {form for form in out if len(form) >= _MIN_REDACT_LEN}

    def redact(self, text: str) -> str:
        if not self._values:
            return text
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                forms = {form for value in self._values for form in self.forms(value)}
                alternatives = sorted(forms, key=len, reverse=True)
                pattern = re.compile("|".join(map(re.escape, alternatives)))
                self._pattern = pattern
        return pattern.sub(MASK, text)

    def clear(self) -> None:
        """Forget every value (for tests only); the encoders stay, as their modules do."""
        with self._lock:
            self._values.clear()
            self._pattern = None


def _json_body(text: str) -> str:
    # How json.dumps(…, ensure_ascii=False) writes a string: provision's own JSON documents
    # (-json output, state, plan files) are written so, and their writers check them for
    # secrets with REDACTOR.
    return encode_basestring(text)[1:-1]


REDACTOR = Redactor()
REDACTOR.add_encoders(_json_body)


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
