"""Certification service: certificates as PDF, verification, revocation and expiry."""
