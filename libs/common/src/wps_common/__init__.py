"""Shared spine of the WPS Training Platform: each piece exists here once for all services."""
