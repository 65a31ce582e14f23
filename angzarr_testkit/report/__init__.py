"""The HTML storm report: one self-contained page per storm, rendered with Jinja2.

The package reads a :class:`~angzarr_testkit.simulate.StormReport` (it sits above the bus model
and is never imported by it) and is laid out by job:

* :mod:`~angzarr_testkit.report.timeline` reads the storm's trace into lanes and marks;
* :mod:`~angzarr_testkit.report.palette` says which colour and shape stands for what;
* :mod:`~angzarr_testkit.report.svg` draws the swimlane chart and the legend's icons;
* :mod:`~angzarr_testkit.report.html` builds the template context and renders
  ``templates/report.html.j2`` with ``static/report.css`` inlined.
"""

from .html import render_html, write_html

__all__ = ["render_html", "write_html"]
