"""What the web process runs: the served ensemble, inference, evidence, similar tickets,
recommendations and feedback."""
