"""The watched inbox predicts each JSONL line once, moves finished files to done/, and puts bad
lines in rejected/ with the reason; a full outbox pauses it without losing or repeating a line."""

import json

import pytest

from edge_agent.inbox import Inbox
from tests.edge_fixtures import offline_agent, signing_key  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")


def _drop(agent, name: str, lines: list[str]) -> None:
    (agent.data_dir / "inbox" / name).write_text("\n".join(lines) + "\n")


def test_good_lines_are_predicted_and_bad_ones_rejected_with_reasons(tmp_path):
    agent = offline_agent(tmp_path, capacity=100)
    _drop(
        agent,
        "batch.jsonl",
        [
            json.dumps({"external_id": "T-1", "title": "link down"}),
            "{not json",
            json.dumps(["a", "list"]),
            json.dumps({"title": "no id"}),
            "",
            json.dumps({"external_id": "T-2", "title": "mains failure", "resolution": "REPLACE_PSU"}),
        ],
    )
    assert Inbox(agent, agent.data_dir / "inbox").scan() == 1
    assert (agent.data_dir / "done" / "batch.jsonl").exists()
    assert not (agent.data_dir / "inbox" / "batch.jsonl").exists()
    rejected = [
        json.loads(line) for line in (agent.data_dir / "rejected" / "batch.jsonl.rejected.jsonl").open()
    ]
    assert [r["line"] for r in rejected] == [2, 3, 4]
    assert "external_id is required" in rejected[2]["error"]
    assert sorted(p["external_id"] for _, p in agent.outbox.peek(100)) == ["T-1", "T-2"]
    assert agent.outbox.labelled_count() == 1


def test_a_full_outbox_pauses_the_inbox_and_it_resumes_where_it_stopped(tmp_path):
    agent = offline_agent(tmp_path, capacity=2)
    _drop(agent, "b.jsonl", [json.dumps({"external_id": f"T-{i}", "title": "x"}) for i in range(5)])
    inbox = Inbox(agent, agent.data_dir / "inbox")
    assert inbox.scan() == 0 and (agent.data_dir / "inbox" / "b.jsonl").exists()
    seen = []
    while not (agent.data_dir / "done" / "b.jsonl").exists():
        items = agent.outbox.peek(10)
        seen += [p["external_id"] for _, p in items]
        agent.outbox.remove([k for k, _ in items])  # central acknowledged
        inbox.scan()
    seen += [p["external_id"] for _, p in agent.outbox.peek(10)]
    assert seen == [f"T-{i}" for i in range(5)]


def test_partly_written_files_are_left_alone(tmp_path):
    agent = offline_agent(tmp_path, capacity=10)
    _drop(agent, ".incoming.jsonl", [json.dumps({"external_id": "T-1"})])
    (agent.data_dir / "inbox" / "x.jsonl.part").write_text("{}\n")
    assert Inbox(agent, agent.data_dir / "inbox").scan() == 0
    assert agent.outbox.count() == 0
