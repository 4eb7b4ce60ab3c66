"""Simulated counterparties: municipalities and providers that answer like real ones.

A handler consumes a participant's queue, decides what that participant would answer (by the
standard's rules and a contract profile), and sends the answers through the ingress with the
participant's own certificate, at the pace its answer policy says.

``municipality`` and ``provider`` decide (``profiles`` holds the contracts, ``declaring`` what a
provider declares), ``runner`` consumes, paces and sends, ``policy`` and ``policy_api`` are the
answer policies and their admin routes, ``service`` and ``follow`` run handlers in a process of
their own (``gateway handlers``) on the gateway's clock.
"""
