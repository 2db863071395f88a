"""Polling Jenkins, GitLab and GitHub for the runs their webhooks would have told.

`spec.py` holds the `poll:` settings, one poller module per CI system turns API answers
into the payloads its webhook sends (parsed by the same source module, so a polled run is
the same Event), and the scheduler polls each target from one replica at a time.
"""
