"""The HTML storm report: content, escaping, self-containment, lanes, and a real browser."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import sagas

from angzarr_testkit import wire
from angzarr_testkit.framework.findings import KINDS, Finding
from angzarr_testkit.report import render_html, write_html
from angzarr_testkit.simulate import FaultPlan, Storm

E = wire.examples_pb2


def one_sku(rng, i):
    return E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=1 + rng.randrange(3))


def storm(saga=sagas.explicit_saga, **kw):
    kw.setdefault("profile", "sequence-map")  # these tests pin the seed protocol
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    kw.setdefault("event_source", one_sku)
    kw.setdefault("events", 200)
    kw.setdefault("roots", 10)
    kw.setdefault("seed", 7)
    return Storm(saga, **kw)


@pytest.fixture(scope="module")
def dirty():
    """The explicit saga under publisher duplicates: double-apply findings."""
    return storm(faults=FaultPlan(duplicate=0.2)).run()


@pytest.fixture(scope="module")
def busy():
    """Every fault class, a required class that never occurs, two finding kinds."""
    faults = FaultPlan(
        duplicate=0.1,
        crash_before_ack=0.05,
        crash_mid_dispatch=0.05,
        nack_requeue=0.05,
        reorder=True,
        concurrent_redelivery=0.05,
    )
    return storm(faults=faults, concurrency=2, require=["delivery-limit"]).run()


def lane_roots(page: str) -> list[str]:
    return re.findall(r'<g class="lane" data-root="([^"]*)"', page)


def published_roots(report) -> set[str]:
    return {line["root"] for line in report.trace if line["type"] == "publish" and "root" in line}


# -- content --------------------------------------------------------------------------------


def test_header_has_seed_target_profile_and_verdict(dirty):
    page = render_html(dirty)
    assert not dirty.ok
    assert "NOT CLEAN" in page
    assert re.search(r"seed <span class=\"mono\">7</span>", page)
    assert "explicit_saga" in page and "sequence-map" in page
    assert page.startswith("<!DOCTYPE html>")


def test_clean_storm_says_clean():
    report = storm(sagas.deferred_saga, faults=FaultPlan(duplicate=0.2)).run()
    assert report.ok
    page = render_html(report)
    assert 'class="verdict clean">CLEAN<' in page and "NOT CLEAN" not in page
    assert "The oracle found nothing" in page


def test_every_count_is_in_the_summary_table(busy):
    page = render_html(busy)
    for name, value in busy.counts.items():
        row = re.search(rf'<tr class="[^"]*" data-count="{name}">(.*?)</tr>', page)
        assert row, name
        assert f'<td class="num">{value:,}</td>' in row.group(1), (name, value)


def test_fault_coverage_highlights_required_but_missing(busy):
    assert busy.missing_coverage == ["delivery-limit"]
    page = render_html(busy)
    row = re.search(r'<tr class="missing" data-fault="delivery-limit">(.*?)</tr>', page)
    assert row and "required, missing" in row.group(1)
    for name, value in busy.fault_coverage.items():
        assert re.search(rf'data-fault="{name}">.*?<td class="num">{value:,}</td>', page)
    assert "required fault classes never occurred: delivery-limit" in page


def test_every_finding_kind_is_shown_with_its_context(busy):
    page = render_html(busy)
    kinds = busy.kinds()
    # the required fault class that never occurred is a vacuous-run finding too
    assert set(kinds) == {"double-apply", "sequence-mismatch", "vacuous-run"}
    for kind, count in kinds.items():
        assert f'id="kind-{kind}"' in page
        assert f'<tr data-kind="{kind}">' in page
        assert f"{count:,} \u00b7 {KINDS[kind].summary}" in page
    first = busy.findings[0]
    assert first.trigger and first.trigger in page
    assert first.target and first.target in page


def test_findings_per_kind_are_capped_with_a_more_line(dirty):
    total = dirty.kinds()["double-apply"]
    page = render_html(dirty, max_findings_per_kind=5)
    assert page.count('<article class="finding error">') == 5
    assert f"and {total - 5:,} more double-apply findings not shown" in page


def test_traceback_and_details_render_in_a_details_element(dirty):
    finding = Finding(
        "handler-error",
        "saga raised",
        trigger="order/x@0 T",
        sequences={"expected": 3},
        dedupe_key="inventory/r <- order/x@0",
        details={"code": "INTERNAL"},
        traceback='Traceback (most recent call last):\n  File "<saga>"\nValueError: x < y',
    )
    page = render_html(dataclasses.replace(dirty, findings=[finding]))
    assert "<details><summary>traceback</summary><pre>Traceback" in page
    assert "ValueError: x &lt; y" in page and "File &quot;&lt;saga&gt;&quot;" in page
    assert "expected=3" in page and "INTERNAL" in page
    assert "inventory/r &lt;- order/x@0" in page


# -- escaping and self-containment ---------------------------------------------------------------


def test_user_text_is_escaped(dirty):
    evil = '<script>alert("pwned")</script>'
    finding = Finding(
        "double-apply",
        f"message {evil}",
        trigger=f"order/{evil}",
        target="inventory/'quoted\"",
        details={evil: evil},
    )
    report = dataclasses.replace(
        dirty, findings=[finding], options={**dirty.options, "target": evil}
    )
    page = render_html(report)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "inventory/&#x27;quoted&quot;" in page


def test_no_network_resources(busy):
    page = render_html(busy)
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert not re.search(r"url\(", page) and "@import" not in page and "<script" not in page
    assert "default-src 'none'" in page  # the CSP forbids fetching anything at all


# -- the swimlane timeline --------------------------------------------------------------------


def test_one_lane_per_root_with_a_mark_per_delivery(busy):
    page = render_html(busy)
    assert page.count("<svg") >= 1 and '<svg class="lanes"' in page
    roots = lane_roots(page)
    assert sorted(roots) == sorted(published_roots(busy))
    marks = page.count("<g><title>delivery #")
    deliver_lines = sum(1 for line in busy.trace if line["type"] == "deliver")
    assert marks == deliver_lines
    assert "roots not shown" not in page


def test_lanes_with_findings_come_first(busy):
    page = render_html(busy)
    stats = re.findall(r'<g class="lane" data-root="[^"]*"><title>[^<]*\n([^<]*)</title>', page)
    with_findings = ["finding" in s for s in stats]
    assert with_findings == sorted(with_findings, reverse=True)


def test_root_cap_keeps_roots_with_findings_then_the_busiest():
    report = storm(faults=FaultPlan(duplicate=0.03), roots=60, events=300).run()
    total = len(published_roots(report))
    finding_roots = {
        f.trigger.split("/", 1)[1].split("@", 1)[0] for f in report.findings if f.trigger
    }
    assert 0 < len(finding_roots) < 12 < total
    page = render_html(report, max_roots=12)
    roots = lane_roots(page)
    assert len(roots) == 12
    assert set(roots[: len(finding_roots)]) == finding_roots
    assert f"{total - 12:,} of {total:,} roots not shown" in page
    busy_counts = [
        int(n.replace(",", ""))
        for n in re.findall(r"<title>source root [^\n]*\n([\d,]+) deliveries</title>", page)
    ]
    assert len(busy_counts) == 12 - len(finding_roots)
    assert busy_counts == sorted(busy_counts, reverse=True)
    assert "roots not shown" not in render_html(report, max_roots=100)


def test_events_per_root_cap_thins_lanes(busy):
    page = render_html(busy, max_events_per_root=5)
    assert page.count("<g><title>delivery #") <= 5 * len(lane_roots(page))
    assert "had more than 5 deliveries" in page


def test_unreadable_trace_is_reported_not_raised(dirty, tmp_path):
    gone = tmp_path / "gone.jsonl"
    report = dataclasses.replace(dirty, trace=type(dirty.trace)(gone, temporary=True))
    page = render_html(report)
    assert "the trace could not be read" in page and "NOT CLEAN" in page


def test_write_html_returns_the_path(dirty, tmp_path):
    out = write_html(dirty, tmp_path / "report.html")
    assert out == tmp_path / "report.html"
    assert out.read_text(encoding="utf-8") == render_html(dirty)


# -- a real browser ---------------------------------------------------------------------------


def read_png(path: Path) -> tuple[int, int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG: (width, height, channels, rows)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if ftype == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        else:
            assert ftype == 0, f"bad PNG filter {ftype}"
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(dirty, tmp_path):
    browser = find_chromium()
    if browser is None:
        message = "chromium is not installed: apt-get install -y chromium (or make browser-deps)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    page = write_html(dirty, tmp_path / "storm.html")
    shot = tmp_path / "storm.png"
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1400,2000",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert shot.is_file(), f"no screenshot (exit {result.returncode}):\n{result.stderr[-2000:]}"
    width, height, channels, rows = read_png(shot)
    assert (width, height) == (1400, 2000)
    colours: set[bytes] = set()
    non_white = 0
    for row in rows[::4]:
        for x in range(0, width * channels, channels * 2):
            pixel = row[x : x + 3]
            colours.add(pixel)
            if pixel != b"\xff\xff\xff":
                non_white += 1
    sampled = (height // 4) * (width // 2)
    assert len(colours) > 50, f"only {len(colours)} colours: the page looks blank"
    assert non_white > sampled // 10, f"{non_white} of {sampled} sampled pixels not white"
    # The verdict's red and the applied-green marks of the timeline both made it to the screen
    # (with a little tolerance for colour management).
    assert near(colours, (0xC9, 0x2A, 0x2A)), "the NOT CLEAN red is missing"
    assert near(colours, (0x2F, 0x9E, 0x44)), "no applied (green) delivery marks"


def near(colours: set[bytes], rgb: tuple[int, int, int], tolerance: int = 8) -> bool:
    return any(all(abs(c[i] - rgb[i]) <= tolerance for i in range(3)) for c in colours)
