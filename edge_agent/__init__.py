"""TicketAI edge agent: infers on a site's tickets with a signed bundle, offline, and reports back.

Standalone: it imports neither Django nor torch (requirements-edge.txt). Run it with
``python -m edge_agent --central URL --enrol TOKEN --data-dir DIR [--listen 127.0.0.1:PORT]``.
"""

__version__ = "1.0.0"
