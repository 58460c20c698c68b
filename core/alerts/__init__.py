"""Alerting: rules that turn reports into alert states, an outbox, and its delivery worker."""
