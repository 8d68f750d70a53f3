"""What every stage shares: ``Settings`` (settings.py), user-facing errors (errors.py),
the offline guard (offline.py) and the text functions (text.py)."""
