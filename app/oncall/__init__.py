"""The on-call loop: silences, acknowledgements and escalation (docs/oncall.md)."""
