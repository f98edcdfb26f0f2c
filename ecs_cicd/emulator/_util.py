"""Small helpers shared by the emulator's moto patches.

Owns: replacing a method on a moto class exactly once, per-backend extra state (which therefore
resets whenever moto resets its backends), the clock, and reading/rewriting what a moto response
method returned. moto 5.2 is midway between two styles (a JSON string, or an ``ActionResult``
that moto serializes against the service model), and which one a service uses changes between
5.2.x releases, so wrappers go through ``unwrap``/``rewrap`` instead of assuming one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from moto.core.responses import ActionResult

T = TypeVar("T")

_MARK = "__ecs_cicd_patched__"


def replace(cls: type, name: str, build: Callable[[Any], Callable[..., Any]]) -> None:
    """Set ``cls.name`` to ``build(original)`` unless we already did.

    ``original`` is the attribute as found (``None`` when moto lacks it). The marker keeps a
    second ``install()`` from wrapping a wrapper.
    """
    current = cls.__dict__.get(name)
    if current is not None and getattr(current, _MARK, False):
        return
    # Inherited methods (EC2Backend is assembled from mixins) are not in the class __dict__.
    new = build(current if current is not None else getattr(cls, name, None))
    setattr(new, _MARK, True)
    setattr(cls, name, new)


def add(cls: type, name: str, fn: Callable[..., Any]) -> None:
    """Add a method moto lacks (or replace one outright, ignoring moto's)."""
    replace(cls, name, lambda _original: fn)


def state(backend: Any, key: str, factory: Callable[[], T]) -> T:
    """Extra state kept on a moto backend instance, created on first use.

    Kept on the backend so ``mock_aws`` and ``/moto-api/reset`` reset it with moto's own.
    """
    attr = f"_ecs_cicd_{key}"
    value = backend.__dict__.get(attr)
    if value is None:
        value = factory()
        setattr(backend, attr, value)
    return value  # type: ignore[no-any-return]


def now() -> float:
    """Epoch seconds; the JSON protocols carry timestamps this way."""
    return time.time()


def unwrap(value: Any) -> dict[str, Any]:
    """The data a moto response method answered, whichever style it used."""
    if isinstance(value, ActionResult):
        result = value.result
        return result if isinstance(result, dict) else {}
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        data = json.loads(value) if value.strip() else {}
        return data if isinstance(data, dict) else {}
    raise TypeError(f"unexpected moto response value {type(value).__name__}")


def rewrap(original: Any, data: dict[str, Any]) -> Any:
    """Answer ``data`` in the style the wrapped moto method used."""
    if isinstance(original, ActionResult):
        return ActionResult(data)
    return dumps(data)


def dumps(value: Any) -> str:
    """JSON for a response body (moto's JSON services return strings)."""
    return json.dumps(value, default=str)


def page(
    items: list[T], next_token: str | None, max_results: int | None
) -> tuple[list[T], str | None]:
    """Offset pagination: the token is the index of the next item."""
    start = int(next_token) if next_token else 0
    size = max_results or 100
    chunk = items[start : start + size]
    following = start + size
    return chunk, (str(following) if following < len(items) else None)
