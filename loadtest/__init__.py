"""Clickport load-testing harness: traffic model, bulk seeder, HTTP load driver, query benchmark, report.

Exposed as `clickport loadtest seed|load|bench|report` (see docs/loadtest.md).
"""
