"""The process: viewflow's own ``Process`` row, each step's 30 decimals kept in its ``data`` JSON (jsonstore)."""

from viewflow import jsonstore
from viewflow.workflow.models import Process

STEPS = 6
FIELDS = 30


def field_names(step: int) -> list[str]:
    return [f"s{step}_v{n:02d}" for n in range(1, FIELDS + 1)]


class Meta:
    proxy = True


PeerProcess = type("PeerProcess", (Process,), {
    "__module__": __name__,
    "Meta": Meta,
    **{name: jsonstore.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
       for step in range(1, STEPS + 1) for name in field_names(step)},
})
