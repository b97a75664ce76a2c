"""`wilss status`'s state column against what Slurm says: the manifest is the step's own record, written at
moments of the step's choosing, so where Slurm has moved on since, the column says what is happening now."""

from __future__ import annotations

import pytest

from wilss.status import DEPENDENCY_GONE, state_column


@pytest.mark.parametrize(("recorded", "job", "shown"), [
    # a restart the step has not recorded yet: the job runs again for the seconds before rank 0 writes 'running'
    ("requeued", ("RUNNING", ""), "starting again (was requeued)"),
    ("resubmitted", ("RUNNING", ""), "starting again (was resubmitted)"),
    ("preempted", ("RUNNING", ""), "starting again (was preempted)"),  # PreemptMode=REQUEUE: the same job again
    # Slurm requeued the job itself (a lost node, an administrator): the manifest still says 'running'
    ("running", ("PENDING", "BeginTime"), "waiting to run again (Slurm requeued the job while the step ran)"),
    # what the step recorded is what happens
    ("requeued", ("PENDING", "BeginTime"), "requeued"),
    ("running", ("RUNNING", ""), "running"),
    ("finished", ("COMPLETED", ""), "finished"),
    # the job ended without the step recording it
    ("running", ("FAILED", "exit 1:0"), "ended while running: failed"),
    ("submitted", ("CANCELLED", "DependencyNeverSatisfied"), f"never ran: {DEPENDENCY_GONE}"),
])
def test_the_state_column_says_what_happens_now(recorded, job, shown):
    assert state_column({"state": recorded}, job) == shown
