"""Operators' review: the queue, verdicts with an audit trail, and DSA statements of reasons."""
