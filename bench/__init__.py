"""Benchmarks, run on demand (``python -m bench.run``), never in the test suite.

Every scenario runs the thing measured and the load in separate processes on 127.0.0.1, in a
throwaway RabbitMQ vhost and a temporary ledger, bounded in time and in count.
"""
