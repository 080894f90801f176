"""File ingestion: streaming readers, the ticket, repair and catalogue importers, and ticket export."""
