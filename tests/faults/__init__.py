"""The fault suite: a payment burst with refunds and a live campaign, through one fault at a
time (a service killed, a consumer frozen, the database restarted or slowed, the processor
down, messages redelivered, poison published), counted afterwards from the topics.

``make faults`` runs it at full size (``python -m tests.faults``); ``make test`` runs it small.
"""
