"""Alerting: rules that turn reports into alert states, the alert manager, and outbox delivery."""
