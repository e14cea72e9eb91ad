"""The training flow: load prices, train, build the version record, gate it, register it.

`pipeline.train_and_register` is the entry; it runs in a training process (spawned locally or
in an RQ work-horse) and reports through a `JobHandle` that the job layer provides, so this
package knows nothing of queues, processes or heartbeats.
"""
