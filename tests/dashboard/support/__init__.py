"""Test infrastructure shared by the dashboard suites: real Celery workers and the browser."""
