"""The edge fleet: agents, their bundles and predictions, and placement across the four patterns."""
