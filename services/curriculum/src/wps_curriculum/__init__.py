"""Curriculum service: what is taught (modules, tracks) and what is required."""
