"""The agent's background duties, one loop object each: the heartbeat, the forwarder that drains
the outbox, and the inbox poller. Each step talks to central (or the disk) once; the loop around it
retries with a capped exponential backoff while central is unreachable or refusing.
"""

import logging
import threading
from typing import TYPE_CHECKING, Any

from edge_agent.client import TRANSIENT, CentralError

if TYPE_CHECKING:
    from edge_agent.agent import Agent
    from edge_agent.inbox import Inbox

logger = logging.getLogger("edge_agent")


class Loop:
    """Run ``step`` every ``interval()`` seconds until ``stop`` is set; after failures, back off
    (0.4 s doubling up to 5 s). With a ``wake`` event, the wait ends early when it is set."""

    name = "loop"

    def __init__(self, stop: threading.Event, wake: threading.Event | None = None):
        self.stop = stop
        self.wake = wake

    def interval(self) -> float:
        raise NotImplementedError

    def step(self) -> object:
        raise NotImplementedError

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                self.step()
                failures = 0
            except (CentralError, *TRANSIENT) as e:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    logger.warning("%s: central unreachable or refusing (%s); will retry", self.name, e)
            except Exception:
                logger.exception("%s failed", self.name)
            wait = self.interval() if failures == 0 else min(5.0, 0.2 * 2 ** min(failures, 5))
            if self.wake is not None:
                self.wake.wait(wait)
                self.wake.clear()
            else:
                self.stop.wait(wait)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name=self.name)
        thread.start()
        return thread


class HeartbeatLoop(Loop):
    """Tell central how this agent is doing; take the placement and any bundle assignment back."""

    name = "heartbeat"

    def __init__(self, agent: "Agent", stop: threading.Event):
        super().__init__(stop)
        self.agent = agent

    def interval(self) -> float:
        return self.agent.heartbeat_s

    def step(self) -> None:
        from edge_agent.agent import capabilities

        agent = self.agent
        answer: dict[str, Any] = agent.client.heartbeat(
            capabilities=capabilities(agent.data_dir),
            backlog=agent.outbox.count(),
            model_version=agent.model_version,
            status={"outbox_full": agent.outbox.full, "labelled": agent.outbox.labelled_count()},
        )
        agent.follow_placement(answer.get("placement"))
        if not agent.config.heartbeat_s and answer.get("heartbeat_s"):
            agent.heartbeat_s = float(answer["heartbeat_s"])
        agent.take_merged(answer.get("merged"))
        agent.apply_assignment(answer.get("assignment"))


class ForwarderLoop(Loop):
    """Drain the outbox to central in batches; woken at once by each new prediction."""

    name = "forwarder"

    def __init__(self, agent: "Agent", stop: threading.Event, wake: threading.Event):
        super().__init__(stop, wake)
        self.agent = agent

    def interval(self) -> float:
        return self.agent.config.forward_interval_s

    def step(self) -> None:
        while self.forward_once() == self.agent.config.batch_size:
            pass

    def forward_once(self) -> int:
        """Post one batch from the outbox; returns how many central acknowledged."""
        outbox = self.agent.outbox
        items = outbox.peek(self.agent.config.batch_size)
        if not items:
            return 0
        try:
            answer = self.agent.client.post_predictions([payload for _, payload in items])
        except CentralError as e:
            if e.status == 400:  # malformed: retrying cannot help; keep them aside, loudly
                logger.error("central rejected %s predictions as malformed: %s", len(items), e)
                outbox.bury(items, str(e))
                return 0
            raise
        # Central stores the good items and refuses the bad ones one by one, with the reasons.
        refused = {int(i): reasons for i, reasons in (answer.get("errors") or {}).items()}
        for index, reasons in refused.items():
            logger.error("central refused prediction %s: %s", items[index][0], "; ".join(reasons))
            outbox.bury([items[index]], "; ".join(reasons))
        outbox.remove([key for i, (key, _) in enumerate(items) if i not in refused])
        return len(items) - len(refused)


class InboxLoop:
    """Poll the watched inbox folder every ``interval_s`` seconds until ``stop`` is set."""

    name = "inbox"

    def __init__(self, inbox: "Inbox", stop: threading.Event, interval_s: float = 0.3):
        self.inbox = inbox
        self.stop = stop
        self.interval_s = interval_s

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.inbox.scan()
            except Exception:
                logger.exception("inbox scan failed")
            self.stop.wait(self.interval_s)
