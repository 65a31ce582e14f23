"""The step vocabulary: one record per step, the single source for the docs and the CLI."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["VOCABULARY", "StepDoc", "render_markdown", "step"]


@dataclass(frozen=True)
class StepDoc:
    """One step of the library."""

    keyword: str
    pattern: str
    description: str
    example: str
    group: str


VOCABULARY: list[StepDoc] = []


def _quoted(text: str) -> str:
    return text


_quoted.pattern = r'[^"]*'  # type: ignore[attr-defined]
_QUOTED_FIELD = re.compile(r'"\{(\w+)\}"')
_registered = False


def step(
    keyword: str, pattern: str, *, group: str, description: str, example: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a behave step (parse matcher) and record it in :data:`VOCABULARY`.

    Every ``"{name}"`` in a pattern is a quoted entity whose value cannot contain a quote
    (the ``Q`` type), so a longer step never matches a shorter one's pattern.

    A kit error raised by the step (a bad step argument: an invalid domain, an unknown
    profile, an out-of-range number, ...) fails the step with its one-line message naming
    the argument and what is accepted, never with an internal traceback."""
    import behave

    global _registered
    if not _registered:
        behave.register_type(Q=_quoted)
        _registered = True
    registrar = {"Given": behave.given, "When": behave.when, "Then": behave.then}[keyword]
    typed = _QUOTED_FIELD.sub(r'"{\1:Q}"', pattern)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        behave.use_step_matcher("parse")
        VOCABULARY.append(StepDoc(keyword, pattern, description, example, group))
        return registrar(typed)(_failing_cleanly(keyword, pattern, fn))

    return decorate


def _failing_cleanly(keyword: str, pattern: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, with a :class:`~angzarr_testkit.errors.ClientError` turned into a step failure
    (behave shows an ``AssertionError``'s message; any other exception as a traceback)."""
    from ..errors import ClientError

    @functools.wraps(fn)
    def run(context: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(context, *args, **kwargs)
        except ClientError as exc:
            raise StepArgumentError(f"{keyword} {pattern}: {exc.message}") from exc

    return run


class StepArgumentError(AssertionError):
    """A step failed on a bad argument or a kit error; the message says what to change."""


def render_markdown() -> str:
    """``docs/steps.md``: every step grouped, with its description and an example."""
    lines = [
        "# Gherkin step vocabulary",
        "",
        "Generated from `angzarr_testkit.behave.vocabulary` by `angzarr-testkit steps "
        "--markdown`; a test fails when this file is stale. Register every step with one "
        "import in `features/steps/`:",
        "",
        "```python",
        "from angzarr_testkit.behave.steps import *  # noqa: F401,F403",
        "```",
        "",
        "and in `features/environment.py`:",
        "",
        "```python",
        "from angzarr_testkit.behave.environment import before_scenario  # noqa: F401",
        "```",
        "",
        'Conventions: entity names quoted (`domain "inventory"`), message types unquoted '
        "PascalCase; Given = past facts, When = the action, Then = declarative outcome; "
        "tables have the key column first.",
    ]
    groups: dict[str, list[StepDoc]] = {}
    for doc in VOCABULARY:
        groups.setdefault(doc.group, []).append(doc)
    for group, docs in groups.items():
        lines += ["", f"## {group}"]
        for doc in docs:
            lines += [
                "",
                f"### `{doc.keyword} {doc.pattern}`",
                "",
                doc.description,
                "",
                "```gherkin",
                doc.example,
                "```",
            ]
    return "\n".join(lines) + "\n"
