"""The engine: what a run is, independent of where tasks execute or what is remembered.

``resolver`` walks ``requires()``; ``scheduling`` is the pure state machine
deciding what runs next; ``run_loop`` drives one run through an
:class:`~nbpipe.engine.executor.Executor`; ``events`` is the record every
consumer reads; ``summary`` is the execution summary built from events.
Imports only the task model.
"""
