"""Six user steps in a row, each a viewflow ``View`` with its own form of 30 decimals, assigned on creation."""

from django import forms
from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.flow.views import UpdateProcessView

from .models import STEPS, PeerProcess, field_names

USER = "bench"


def step_view(step: int):
    """viewflow's own task view: a ModelForm over the process, saved, then the task executed."""
    form = forms.modelform_factory(PeerProcess, fields=field_names(step))
    return UpdateProcessView.as_view(form_class=form)


def step(n: int) -> flow.View:
    return flow.View(step_view(n)).Assign(username=USER).Next(getattr(this, f"step{n + 1}" if n < STEPS else "end"))


class PeerFlow(flow.Flow):
    process_class = PeerProcess
    # The lock viewflow's documentation recommends for production (SELECT ... FOR UPDATE; no-op on SQLite,
    # where the transaction itself holds the database's single write lock).
    lock_impl = lock.select_for_update_lock

    start = flow.StartHandle().Next(this.step1)
    step1, step2, step3, step4, step5, step6 = (step(n) for n in range(1, STEPS + 1))
    end = flow.End()
