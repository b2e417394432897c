"""Event-time windows across a master restart (issue 11): the scenario of
test_kafka_event_time.py with the master killed (kill -9) and restarted
between the second and the third phase. The watermark (the largest event
time seen) is part of the job's checkpoint: were it lost, the third
phase's far-late records would be counted into new windows and its
windows emitted at other batches than the reference's, and the late count
in the job view would restart from 0.
"""
from kharness import require_broker  # noqa: F401 (first: sets the import path)
from harness import run
from test_kafka_event_time import test

if __name__ == "__main__":
    run(lambda: test(restart=True))
