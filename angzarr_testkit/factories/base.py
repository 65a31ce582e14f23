"""The base of the kit's factory-boy factories: a protobuf message from constructor arguments."""

from __future__ import annotations

from typing import Any, TypeVar

import factory
from google.protobuf.message import Message

from ..errors import InvalidArgumentError
from .coerce import construct

M = TypeVar("M", bound=Message)


def pop_params(kwargs: dict[str, Any], *names: str) -> list[Any]:
    """Pop ``names`` from ``kwargs`` (``None`` for each one absent), in order."""
    return [kwargs.pop(name, None) for name in names]


class ProtoFactory(factory.Factory):
    """Base of the kit's factories: builds a protobuf message from constructor arguments.

    Subclasses refine :meth:`_assemble` to turn their extra parameters (``start``, ``events``,
    shortcuts, ``validate``) into fields. ``build`` and ``create`` are the same.
    """

    class Meta:
        abstract = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        kwargs.pop("validate", None)
        return construct(model_class, kwargs, cls.__name__)

    @classmethod
    def _build(cls, model_class: type[M], *args: Any, **kwargs: Any) -> M:
        if args:
            raise InvalidArgumentError(
                f"{cls.__name__} takes keyword arguments only",
                details={"param": "args", "value": repr(args)[:200]},
            )
        return cls._assemble(model_class, dict(kwargs))

    @classmethod
    def _create(cls, model_class: type[M], *args: Any, **kwargs: Any) -> M:
        return cls._build(model_class, *args, **kwargs)
