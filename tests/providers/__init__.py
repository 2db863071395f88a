"""Local fake provider servers that speak each provider's real contract, for tests."""
