"""Secure aggregation: two non-colluding aggregators, Prio3 and central DP (issue 13).

``hpke`` encrypts each input share to its aggregator (RFC 9180); ``noise`` draws exact
discrete Gaussian noise from a CSPRNG; ``accounting`` calibrates it (zCDP to (ε, δ)).
"""
