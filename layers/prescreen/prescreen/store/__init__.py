"""The decision log: a Protocol, the DynamoDB adapter, and an in-memory fake for unit tests."""

from prescreen.store.base import DecisionStore, DuplicateRequest, RequestRecord, StoreUnavailable

__all__ = ["DecisionStore", "DuplicateRequest", "RequestRecord", "StoreUnavailable"]
