"""Consent to texts and its revocations (a ledger per number), and suppressions."""
