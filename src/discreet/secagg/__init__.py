"""Secure aggregation: two non-colluding aggregators, Prio3 and central DP (issue 13).

``hpke`` encrypts each input share to its aggregator (RFC 9180).
"""
