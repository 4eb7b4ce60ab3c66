"""The ledger: every message, its way through the chain, and what it obliges whom to do."""

from gateway.ledger.store import Admission, Ledger, StoredMessage

__all__ = ["Admission", "Ledger", "StoredMessage"]
