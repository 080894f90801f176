"""The ML app's shared ground: registry, label sets, dataset, serialization, signing, bundles, webhooks."""
