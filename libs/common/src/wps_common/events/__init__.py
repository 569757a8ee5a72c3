"""Events: the CloudEvents envelope, payload contracts, outbox, relay, consumer, streams."""
