"""The decision log: a Protocol, the DynamoDB adapter, and an in-memory fake for unit tests."""

from prescreen.store.base import (
    DecisionQuery,
    DecisionStore,
    DuplicateRequest,
    InvalidCursor,
    Page,
    RequestRecord,
    StaleRevision,
    StoreUnavailable,
)

__all__ = [
    "DecisionQuery",
    "DecisionStore",
    "DuplicateRequest",
    "InvalidCursor",
    "Page",
    "RequestRecord",
    "StaleRevision",
    "StoreUnavailable",
]
