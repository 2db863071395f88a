"""The delivery bus: stages, groups, per-receiver senders, retries."""
