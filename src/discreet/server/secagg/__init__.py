"""The two aggregators of secure aggregation (issue 13): the leader and the helper.

Each runs as its own process with its own SQLite database and HPKE key pair
(:mod:`discreet.server.secagg.run`); the protocol itself, pure and shared with
devices, is :mod:`discreet.secagg`.
"""
