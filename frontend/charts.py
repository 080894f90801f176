"""Server-rendered SVG charts: no JavaScript, no images to fetch, readable by screen readers.

Each function takes plain numbers (as stored in ModelVersion.metrics and the monitoring reports)
and returns a complete ``<svg>`` string, safe to insert: every label is escaped here. Charts
scale with their container (viewBox, width 100%) so they fit a 375 px phone.
"""

from collections.abc import Sequence
from datetime import datetime
from html import escape

from django.utils.safestring import SafeString, mark_safe

_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
_ACCENT = "#0a5bd3"
_MUTED = "#57606a"
_LINE = "#d0d7de"
_CHAR_W = 7.5  # a generous average glyph width at 11 px, so long codes are never clipped
SERIES_COLOURS = ("#0a5bd3", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#0969da")


def _svg(width: int, height: int, title: str, description: str, body: list[str]) -> SafeString:
    # role="img" with <title>/<desc> gives the chart one accessible name and a text summary.
    head = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>"
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every label escaped above


def _text(x: float, y: float, content: str, *, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {_FONT} {extra}>{escape(content)}</text>'


def _heat(value: float) -> str:
    """White to accent blue; 0..1."""
    value = min(max(value, 0.0), 1.0)
    r = round(255 + (10 - 255) * value)
    g = round(255 + (91 - 255) * value)
    b = round(255 + (211 - 255) * value)
    return f"#{r:02x}{g:02x}{b:02x}"


def confusion_matrix(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> SafeString:
    """Rows are the true resolution, columns the predicted one; shaded by the row's share."""
    n = len(labels)
    if n == 0:
        return _svg(300, 40, "Confusion matrix", "No evaluation data.", [_text(8, 24, "No evaluation data.")])
    cell = max(14, min(36, 480 // n))
    left = 10 + _CHAR_W * max(len(label) for label in labels)
    top = left  # column labels are rotated, so they need the same room as row labels
    width, height = left + n * cell + 8, top + n * cell + 8
    body = []
    for i, label in enumerate(labels):
        y = top + i * cell + cell / 2 + 4
        body.append(_text(left - 6, y, label, anchor="end"))
        x = left + i * cell + cell / 2 + 4
        body.append(_text(x, top - 6, label, extra=f'transform="rotate(-90 {x:.1f} {top - 6:.1f})"'))
    correct = total = 0
    for i, row in enumerate(matrix):
        row_total = sum(row) or 1
        for j, count in enumerate(row):
            total += count
            correct += count if i == j else 0
            share = count / row_total
            x, y = left + j * cell, top + i * cell
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{_heat(share)}" '
                f'stroke="{_LINE}"><title>true {escape(labels[i])}, predicted {escape(labels[j])}: '
                f"{count}</title></rect>"
            )
            if count and cell >= 20:
                colour = "#fff" if share > 0.55 else "#1b1f24"
                body.append(
                    _text(
                        x + cell / 2, y + cell / 2 + 4, str(count), anchor="middle", extra=f'fill="{colour}"'
                    )
                )
    summary = f"{n} resolutions; {correct} of {total} evaluation tickets on the diagonal (correct)."
    return _svg(width, height, "Confusion matrix: true resolution by row, predicted by column", summary, body)


def horizontal_bars(
    values: Sequence[tuple[str, float]], *, title: str, maximum: float = 1.0, decimals: int = 2
) -> SafeString:
    """One bar per label, for per-class F1 and the model-versus-baselines comparison."""
    if not values:
        return _svg(300, 40, title, "No data.", [_text(8, 24, "No data.")])
    bar_h, gap = 16, 6
    left = 10 + _CHAR_W * max(len(label) for label, _ in values)
    plot = 260
    width, height = left + plot + 56, len(values) * (bar_h + gap) + 24
    body = []
    for i, (label, value) in enumerate(values):
        y = 8 + i * (bar_h + gap)
        length = plot * max(0.0, min(value / maximum if maximum else 0.0, 1.0))
        body.append(_text(left - 6, y + bar_h - 4, label, anchor="end"))
        body.append(f'<rect x="{left}" y="{y}" width="{plot}" height="{bar_h}" fill="#eef2f6"/>')
        body.append(f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{_ACCENT}"/>')
        body.append(_text(left + plot + 6, y + bar_h - 4, f"{value:.{decimals}f}"))
    description = "; ".join(f"{label} {value:.{decimals}f}" for label, value in values)
    return _svg(width, height, title, description, body)


def _axes(left: int, top: int, size: int, x_label: str, y_label: str) -> list[str]:
    body = [f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="{_LINE}"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * size
        y = top + size - tick * size
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + size}" stroke="#eef2f6"/>')
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + size}" y2="{y:.1f}" stroke="#eef2f6"/>')
        body.append(_text(x, top + size + 14, f"{tick:g}", anchor="middle", extra=f'fill="{_MUTED}"'))
        body.append(_text(left - 4, y + 4, f"{tick:g}", anchor="end", extra=f'fill="{_MUTED}"'))
    body.append(_text(left + size / 2, top + size + 30, x_label, anchor="middle"))
    body.append(
        _text(
            12, top + size / 2, y_label, anchor="middle", extra=f'transform="rotate(-90 12 {top + size / 2})"'
        )
    )
    return body


def _reliability_series(
    bins: Sequence[dict], left: int, top: int, size: int, *, colour: str, hollow: bool, name: str
) -> tuple[list[str], str]:
    used = [b for b in bins if b.get("count")]
    total = sum(b["count"] for b in used) or 1
    body = []
    for b in used:
        x = left + b["confidence"] * size
        y = top + size - b["accuracy"] * size
        radius = 3 + 7 * (b["count"] / total) ** 0.5
        paint = f'fill="{colour}" fill-opacity=".75"'
        if hollow:
            paint = f'fill="#fff" stroke="{colour}" stroke-width="1.5"'
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" {paint} class="series-{escape(name)}">'
            f"<title>{escape(name)}: confidence {b['confidence']:.2f}, accuracy {b['accuracy']:.2f}, "
            f"{b['count']} tickets</title></circle>"
        )
    if len(used) > 1:
        points = " ".join(
            f"{left + b['confidence'] * size:.1f},{top + size - b['accuracy'] * size:.1f}" for b in used
        )
        dash = ' stroke-dasharray="3 2"' if hollow else ""
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
    description = "; ".join(
        f"confidence {b['confidence']:.2f}: accuracy {b['accuracy']:.2f} ({b['count']})" for b in used
    )
    return body, description


def reliability_diagram(bins: Sequence[dict], *, before: Sequence[dict] | None = None) -> SafeString:
    """Calibration: mean confidence against accuracy per bin; the diagonal is perfect calibration.

    ``bins``: [{"confidence": mean confidence, "accuracy": share correct, "count": n}, ...], as
    served; ``before``: the same tickets before calibration, drawn hollow and dashed beside them."""
    left, top, size = 44, 10, 240
    body = _axes(left, top, size, "stated confidence", "share right")
    body.append(
        f'<line x1="{left}" y1="{top + size}" x2="{left + size}" y2="{top}" stroke="{_MUTED}" '
        'stroke-dasharray="4 3"/>'
    )
    height = top + size + 40
    descriptions = []
    if before:
        series, text = _reliability_series(
            before, left, top, size, colour="#cf222e", hollow=True, name="before"
        )
        body += series
        descriptions.append(f"before calibration: {text or 'no data'}")
    series, text = _reliability_series(bins, left, top, size, colour=_ACCENT, hollow=False, name="served")
    body += series
    descriptions.append(f"as served: {text}" if before else text)
    if before:
        for i, (label, paint) in enumerate(
            (
                ("before calibration", 'fill="#fff" stroke="#cf222e" stroke-width="1.5"'),
                ("as served (calibrated)", f'fill="{_ACCENT}"'),
            )
        ):
            y = height + 4 + 16 * i
            body.append(f'<circle cx="{left + 5}" cy="{y - 4}" r="5" {paint}/>')
            body.append(_text(left + 16, y, label))
        height += 36
    description = "; ".join(d for d in descriptions if d) or "No data."
    return _svg(left + size + 16, height, "Reliability diagram", description, body)


def coverage_curve(points: Sequence[dict], *, target: float = 0.9) -> SafeString:
    """Precision against coverage as the confidence threshold falls; the dashed line is the target.

    ``points``: [{"coverage": share answered, "precision": share correct of those}, ...]."""
    left, top, size = 44, 10, 240
    body = _axes(left, top, size, "coverage (share of tickets answered)", "precision")
    y_target = top + size - target * size
    body.append(
        f'<line x1="{left}" y1="{y_target:.1f}" x2="{left + size}" y2="{y_target:.1f}" stroke="#cf222e" '
        'stroke-dasharray="4 3"/>'
    )
    body.append(
        _text(left + size - 4, y_target - 4, f"target {target:g}", anchor="end", extra='fill="#cf222e"')
    )
    ordered = sorted(points, key=lambda p: p["coverage"])
    if ordered:
        line = " ".join(
            f"{left + p['coverage'] * size:.1f},{top + size - p['precision'] * size:.1f}" for p in ordered
        )
        body.append(f'<polyline points="{line}" fill="none" stroke="{_ACCENT}" stroke-width="2"/>')
    description = (
        f"{len(ordered)} points from coverage {ordered[0]['coverage']:.2f} to {ordered[-1]['coverage']:.2f}"
        if ordered
        else "No data."
    )
    return _svg(left + size + 16, top + size + 40, "Coverage at precision", description, body)


def time_series(
    series: dict[str, Sequence[tuple[datetime, float]]], *, title: str, threshold: float | None = None
) -> SafeString:
    """Lines over time (drift scores, data-quality shares), with an optional alert threshold."""
    values = [v for points in series.values() for _, v in points]
    times = [t for points in series.values() for t, _ in points]
    left, top, width, height = 44, 10, 420, 160
    total_w, total_h = left + width + 16, top + height + 40 + 16 * len(series)
    if not values:
        return _svg(total_w, 40, title, "No reports yet.", [_text(8, 24, "No reports yet.")])
    high = max([*values, threshold or 0.0]) or 1.0
    start, end = min(times), max(times)
    span = (end - start).total_seconds() or 1.0

    def xy(t: datetime, v: float) -> tuple[float, float]:
        return left + (t - start).total_seconds() / span * width, top + height - v / high * height

    body = [f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="{_LINE}"/>']
    for tick in (0, 0.5, 1.0):
        y = top + height - tick * height
        body.append(_text(left - 4, y + 4, f"{tick * high:.2g}", anchor="end", extra=f'fill="{_MUTED}"'))
    body.append(_text(left, top + height + 14, f"{start:%Y-%m-%d}", extra=f'fill="{_MUTED}"'))
    body.append(
        _text(left + width, top + height + 14, f"{end:%Y-%m-%d}", anchor="end", extra=f'fill="{_MUTED}"')
    )
    if threshold is not None:
        _, y = xy(start, threshold)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#cf222e" '
            'stroke-dasharray="4 3"/>'
        )
        body.append(
            _text(left + width - 4, y - 4, f"threshold {threshold:g}", anchor="end", extra='fill="#cf222e"')
        )
    summary = []
    for index, (name, points) in enumerate(series.items()):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        coords = [xy(t, v) for t, v in sorted(points)]
        if len(coords) > 1:
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            body.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in coords:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        legend_y = top + height + 32 + 16 * index
        body.append(f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        body.append(_text(left + 16, legend_y, name))
        if points:
            summary.append(f"{name}: latest {sorted(points)[-1][1]:.3g}")
    return _svg(total_w, total_h, title, "; ".join(summary), body)
