"""Signalbox: routes CI/CD and alerting webhooks to the people who must act on them."""
