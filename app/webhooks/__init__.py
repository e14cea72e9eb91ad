"""Webhooks: receivers registered by URL get a signed POST for each event they asked for.

`events` names the events and writes them into the outbox in the transaction of the change
itself; `endpoints` registers and lists receivers and their deliveries; `targets` decides which
URLs and addresses may be called; `sender` is the delivery loop that signs, sends and retries.
"""
