"""Watching the champion: drift checks, shadow scoring and the retraining triggers."""
