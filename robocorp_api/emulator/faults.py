"""Fault injection: rules matched per request (path regex + optional method), switchable at run time.

Kinds: `latency` (ms, added before answering), `error` (status 500/502/503…), `rate_limit` (429 with
`Retry-After` seconds or an HTTP-date), `malformed` (200 with an invalid JSON body), `drop` (close the socket
without answering), `reset_mid_body` (send the headers and half of the body, then close), `repeat_next` (a
list page whose `next` points back at the page just served: a server repeating its pagination token; pages
without a `next` are answered unchanged). `error` and `drop`
may be `after_apply`: the request is processed (e.g. a POST applied) and only then fails. A rule fires with
probability `rate` (seeded RNG → repeatable) and at most `times` times (None = forever). Never applied to
`/__emulator__/`.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = (
    "latency",
    "error",
    "rate_limit",
    "malformed",
    "drop",
    "reset_mid_body",
    "repeat_next",
)
# Kinds that alter the real answer: the request is handled first, then its response is changed.
RESPONSE_KINDS = frozenset({"reset_mid_body", "repeat_next"})


@dataclass
class FaultRule:
    kind: str
    path: str = ".*"
    method: str | None = None
    status: int = 503
    latency_ms: int = 0
    retry_after: str = "1"
    rate: float = 1.0
    times: int | None = None
    after_apply: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}"
            )
        try:
            self._regex = re.compile(self.path)
        except re.error as exc:
            raise ValueError(f"invalid path regex {self.path!r}: {exc}") from None
        if self.method is not None:
            self.method = self.method.upper()
        if not 0 <= self.rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0")
        if self.kind == "error" and not 400 <= self.status <= 599:
            raise ValueError("error status must be a 4xx/5xx code")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if self.after_apply and self.kind not in ("error", "drop"):
            raise ValueError("after_apply is only supported for error and drop")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self._regex.search(
            path
        ) is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS = {
    "kind": str,
    "path": str,
    "method": str,
    "status": int,
    "latency_ms": int,
    "retry_after": str,
    "rate": float,
    "times": int,
    "after_apply": bool,
}


def parse_rule(spec: dict[str, Any] | str) -> FaultRule:
    """A rule from a dict (HTTP/Python) or a CLI string: JSON, or `kind=error,path=/work-items,status=503,times=2`."""
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{"):
            try:
                spec = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"fault spec is not valid JSON: {exc}") from None
        else:
            pairs = [
                part.split("=", 1) if "=" in part else ["kind", part]
                for part in text.split(",")
                if part
            ]
            spec = {key.strip(): value.strip() for key, value in pairs}
    if not isinstance(spec, dict):
        raise ValueError("a fault rule must be an object")
    unknown = set(spec) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, value in spec.items():
        kind = _FIELDS[name]
        if value is None:
            values[name] = None
        elif kind is bool:
            values[name] = (
                value
                if isinstance(value, bool)
                else str(value).lower() in ("1", "true", "yes")
            )
        else:
            try:
                values[name] = kind(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"fault field {name} must be {kind.__name__}"
                ) from None
    if "kind" not in values:
        raise ValueError("a fault rule needs a kind")
    return FaultRule(**values)


class Faults:
    """The fault controller (`emu.faults`): add/remove/clear rules; `pick` decides per request."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rnd = random.Random(seed)

    def add(self, spec: dict[str, Any] | str | None = None, **fields: Any) -> FaultRule:
        rule = parse_rule(spec if spec is not None else fields)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rnd = random.Random(seed)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, method: str, path: str) -> tuple[int, FaultRule | None]:
        """(added latency in ms, the first firing non-latency rule or None) for one request."""
        latency = 0
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path) or (
                    rule.times is not None and rule.times <= 0
                ):
                    continue
                if rule.kind != "latency" and chosen is not None:
                    continue
                if rule.rate < 1 and self._rnd.random() >= rule.rate:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                rule.hits += 1
                if rule.kind == "latency":
                    latency += rule.latency_ms
                else:
                    chosen = rule
        return latency, chosen
