"""Local fake servers that speak the wire formats of the real image APIs (tests only)."""
