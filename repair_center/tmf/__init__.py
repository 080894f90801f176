"""TM Forum Open APIs over TicketAI's own records (docs/connect.md has the mappings).

``troubleticket`` maps tickets to and from TMF621 TroubleTicket and applies a TMF621 PATCH through
the one workflow write path; ``views`` and ``urls`` serve /tmf-api/troubleTicket/v4/. Hub
registration and event delivery use ml's signed, retried webhooks (ml/api/tmf_hubs.py and
ml/serving/tmf_events.py): repair_center knows nothing of ml.
"""
