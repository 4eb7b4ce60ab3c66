"""Simulated counterparties: municipalities and providers that answer like real ones.

A handler consumes a participant's queue, decides what that participant would answer (by the
standard's rules and a contract profile), and sends the answers through the ingress with the
participant's own certificate, at the pace its answer policy says.
"""
