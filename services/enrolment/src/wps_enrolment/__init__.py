"""Enrolment service: academies, trainees, cohorts, results, completion and compliance."""
