"""The contracts plugins implement: detector, store, notifier, report, and the types they share."""
