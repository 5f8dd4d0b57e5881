"""Telling the marketplace: verdict callbacks through a queue, signed, retried, never lost."""
