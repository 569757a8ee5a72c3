"""Embedded launcher of the WPS Training Platform."""
