"""An event the log repeats (an incident "New" three times) is one candidate for evidence, weighed
as its first occurrence: not three equal rows of the why, taking the room of the words."""

from ml.serving import evidence


def test_an_event_repeated_in_the_log_is_weighed_once_as_its_first_occurrence():
    # The states of an incident of the public ServiceNow event log, as the importer folds them.
    states = ["New", "New", "Active", "New", "Resolved", "Closed", "Active"]
    document = {
        "title": "",
        "events": [{"at": f"2016-02-29T0{n}:00:00Z", "kind": kind} for n, kind in enumerate(states)]
        + [{"kind": "alarm_raised", "code": "LOS"}, {"kind": "alarm_raised", "code": "LOF"}],
    }

    events = [item for kind, item, _ in evidence._variants(document) if kind == "event"]

    assert [(index, event["kind"], event.get("code")) for index, event in events] == [
        (0, "New", None),
        (2, "Active", None),
        (4, "Resolved", None),
        (5, "Closed", None),
        (7, "alarm_raised", "LOS"),
        (8, "alarm_raised", "LOF"),
    ]
