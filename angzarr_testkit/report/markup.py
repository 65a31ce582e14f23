"""The report's one escaping rule, shared by the SVG drawing and the template engine."""

from __future__ import annotations

import html

from markupsafe import Markup

__all__ = ["escape_text"]


def escape_text(value: object) -> Markup:
    """``value`` as HTML text, safe in element content and in quoted attributes.

    The page's one escaping rule (also the template engine's finalizer): ``&``, ``<``, ``>``,
    ``"`` and ``'`` become entities (``&quot;`` and ``&#x27;`` for the quotes). Values that are
    already markup pass through unchanged.
    """
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    return Markup(html.escape(str(value), quote=True))
