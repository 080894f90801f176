"""The server-rendered SVG charts are well-formed, accessible, escape their labels and scale their data."""

from datetime import UTC, datetime
from xml.etree import ElementTree

from frontend import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg" and root.get("role") == "img" and root.get("aria-label")
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    return root


def test_the_confusion_matrix_has_a_cell_per_pair_and_escapes_labels():
    root = _parse(charts.confusion_matrix(["<A>", "B&C"], [[3, 1], [0, 4]]))
    cells = root.findall(f"{SVG}rect")
    assert len(cells) == 4
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "<A>" in texts and "B&C" in texts  # escaped in the markup, so the parser gets them back intact
    assert "7 of 8 evaluation tickets on the diagonal" in root.find(f"{SVG}desc").text
    # the correct cell of a row is the darkest
    assert cells[0].get("fill") < cells[1].get("fill")


def test_bars_are_as_long_as_their_value():
    root = _parse(charts.horizontal_bars([("x", 0.5), ("y", 1.0)], title="F1"))
    widths = [float(r.get("width")) for r in root.findall(f"{SVG}rect")]
    background, half, _, full = widths
    assert half == background / 2 and full == background


def test_reliability_and_coverage_curves_plot_their_points():
    root = _parse(charts.reliability_diagram([{"confidence": 0.5, "accuracy": 0.25, "count": 4}]))
    [point] = root.findall(f"{SVG}circle")
    assert (float(point.get("cx")), float(point.get("cy"))) == (44 + 120, 10 + 240 - 60)
    root = _parse(
        charts.coverage_curve([{"coverage": 1.0, "precision": 0.5}, {"coverage": 0.0, "precision": 1.0}])
    )
    assert root.find(f"{SVG}polyline").get("points") == "44.0,10.0 284.0,130.0"


def test_a_time_series_without_data_says_so():
    assert "No reports yet." in charts.time_series({}, title="Drift")
    root = _parse(
        charts.time_series(
            {"js": [(datetime(2026, 1, 1, tzinfo=UTC), 0.1), (datetime(2026, 1, 2, tzinfo=UTC), 0.3)]},
            title="Drift",
            threshold=0.2,
        )
    )
    assert "js: latest 0.3" in root.find(f"{SVG}desc").text


def test_the_reliability_diagram_draws_before_hollow_and_served_filled_with_a_legend():
    served = [
        {"confidence": 0.8, "accuracy": 0.8, "count": 10},
        {"confidence": 0.6, "accuracy": 0.55, "count": 5},
    ]
    before = [
        {"confidence": 0.99, "accuracy": 0.8, "count": 10},
        {"confidence": 0.9, "accuracy": 0.55, "count": 5},
    ]
    root = _parse(charts.reliability_diagram(served, before=before))
    points = [c for c in root.iter(f"{SVG}circle") if c.get("class")]
    assert [c.get("class") for c in points] == ["series-before"] * 2 + ["series-served"] * 2
    assert points[0].get("fill") == "#fff" and points[2].get("fill") != "#fff"
    assert float(points[0].get("cx")) == 44 + 0.99 * 240
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "before calibration" in texts and "as served (calibrated)" in texts
    assert root.find(f"{SVG}desc").text.startswith("before calibration: confidence 0.99")
