"""python -m edge_agent --central URL --enrol TOKEN --data-dir DIR [--listen 127.0.0.1:PORT]"""

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from edge_agent.agent import Agent, Config
from edge_agent.client import TRANSIENT
from edge_agent.inbox import Inbox
from edge_agent.loops import InboxLoop
from edge_agent.server import LocalServer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edge_agent", description=__doc__)
    parser.add_argument(
        "--central", required=True, help="central base URL, e.g. https://ticketai.example.com"
    )
    parser.add_argument("--enrol", default=None, help="one-time enrolment token (first start only)")
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--listen", default="127.0.0.1:8765", help="HOST:PORT of the local API (port 0: any)")
    parser.add_argument("--inbox", type=Path, default=None, help="watched folder (default DATA_DIR/inbox)")
    parser.add_argument("--name", default="", help="agent name shown centrally (default: host name)")
    parser.add_argument("--outbox-capacity", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--heartbeat-s", type=float, default=None)
    parser.add_argument("--retrain-min", type=int, default=40, help="labelled tickets before a local retrain")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log = logging.getLogger("edge_agent")
    config = Config(
        central=args.central,
        data_dir=args.data_dir,
        enrol_token=args.enrol,
        name=args.name,
        outbox_capacity=args.outbox_capacity,
        batch_size=args.batch_size,
        heartbeat_s=args.heartbeat_s,
        retrain_min_labelled=args.retrain_min,
        retrain_every=args.retrain_min,
    )
    agent = Agent(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():  # central may be down at first start: keep trying to enrol
        try:
            agent.enrol()
            break
        except TRANSIENT as e:
            log.warning("central unreachable for enrolment (%s); retrying", e)
            stop.wait(2)
    if stop.is_set():
        return 0
    host, _, port = args.listen.rpartition(":")
    server = LocalServer((host or "127.0.0.1", int(port)), agent)
    # Written whole (temp file, then rename): a reader polling for the file never sees it empty.
    port_file, part = args.data_dir / "agent.port", args.data_dir / "agent.port.part"
    part.write_text(str(server.server_address[1]))
    os.replace(part, port_file)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    agent.start_background()
    inbox = Inbox(agent, args.inbox or args.data_dir / "inbox")
    log.info("agent %s serving on http://%s:%s", agent.state["agent_id"], *server.server_address)
    InboxLoop(inbox, stop).run()
    agent.stop()
    server.shutdown()
    agent.outbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
