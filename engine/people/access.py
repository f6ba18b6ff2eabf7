"""Who may see what: a signed-in user's grants applied to instances, campaigns, results and files.

``Grant.covers`` (in accounts.py) decides who may act on a task. This module decides the rest,
with the same semantics: a grant's variant, region and unit are "all" when empty.

What a grant lets one see comes from the *powers* of its body (a role): the seven built-in roles are presets of
powers (``PRESETS``), and a variant may declare bodies of its own in bundle.yaml (``bodies:``), each with powers
chosen from ``POWERS``. Every rule below reads powers, never a role's name, so a declared body is judged exactly
like the built-in role whose powers it has.

What a task wrote (its submission and the files uploaded on it) is read by one rule, ``Viewer.reads``,
judged on the facts of the task that wrote it (``Work``: its role, region and member unit, who wrote it,
whether it is submitted) — never on the names of variables. Pages and the API apply it to every
submission and file they show; the raw instance data, where every task's variables meet, is shown only to
those who read all of it (``Viewer.sees_all_data``). docs/security.md states the rule in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import NotFound, PermissionDenied
from ..procedure import bodies
from ..procedure.bodies import PRESETS
from ..store import direct
from ..store.models import Campaign, Instance, ProcessVersion, RoleAssignment, User
from .accounts import Grant

#: Roles that may reassign tasks and release other people's claims (the built-in ones; see ``PRESETS``).
SUPERVISORS = frozenset(r for r, p in PRESETS.items() if "supervises" in p)
#: Roles that follow every region of a procedure: the campaign board, every instance, every result.
OVERSEERS = frozenset(r for r, p in PRESETS.items() if "sees_all_regions" in p)


@dataclass(frozen=True)
class Work:
    """What one user task wrote, as the access rule sees it: the task's procedure, role, region and member
    unit (the fields ``Grant.covers`` reads), who wrote it, and whether it is submitted yet (a file uploaded
    on a task still open is not). ``role`` None: a task the instance no longer knows."""

    variant: str
    role: str | None
    region: str | None
    unit: str | None
    actor: str
    submitted: bool = True


@dataclass(frozen=True)
class Viewer:
    """A signed-in user and the grants they hold."""

    user_id: int
    username: str
    display_name: str
    grants: tuple[Grant, ...]
    #: (variant, body code) -> powers of the bodies variants declare (``bodies``); built-in roles are presets.
    bodies: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict, compare=False)

    @property
    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def powers(self, variant: str | None, role: str | None) -> frozenset[str]:
        """What the body ``role`` may do in ``variant``: a built-in role's preset, else what the variant declares
        (nothing for a body no variant declares, or a declared body's grant that names no variant)."""
        if role in PRESETS:
            return PRESETS[role]
        return self.bodies.get((variant, role), frozenset()) if variant and role else frozenset()

    def holding(self, power: str, variant: str | None) -> list[Grant]:
        """The grants whose body has ``power`` in ``variant`` (None: in any)."""
        return [g for g in self.grants if power in self.powers(g.variant, g.role)
                and (g.variant is None or variant is None or g.variant == variant)]

    def covers(self, task) -> bool:
        """Whether one of the grants covers the task's role, variant, region and unit."""
        return any(g.covers(task) for g in self.grants)

    def can_act(self, task) -> bool:
        """Covered, and not claimed by somebody else."""
        return self.covers(task) and task.assignee in (None, self.username)

    def can_supervise(self, task) -> bool:
        """Admin anywhere; a body that ``supervises`` (the lead agency) for its variant and region."""
        return self.is_admin or any(g.region is None or g.region == task.region
                                    for g in self.holding("supervises", task.variant))

    def sees_instance(self, variant: str, region: str | None) -> bool:
        """Overseers (``sees_all_regions``) and scorers (member units) see every instance of their variant
        (their region, if they have one); an assessed government (``own_region``) only its own region's
        instance; results recipients none."""
        if self.is_admin:
            return True
        for grant in self.holding("sees_all_regions", variant) + self.holding("scores", variant):
            if grant.region is None or grant.region == region:
                return True
        return region is not None and any(g.region is None or g.region == region
                                          for g in self.holding("own_region", variant))

    def reads_library(self, variant: str | None = None) -> bool:
        """The procedure library (its versions, drafts and files): administrators, and read-only the bodies
        that supervise a variant (the lead agency) for that variant (any, with None)."""
        return self.is_admin or bool(self.holding("supervises", variant))

    def sees_board(self, variant: str) -> bool:
        """The campaign board: overseers of the variant who are not limited to one region."""
        return any(g.region is None for g in self.holding("sees_all_regions", variant))

    def reads_results(self, variant: str, announced: bool) -> bool:
        """Scores and grades: overseers at any time, results recipients once they are announced."""
        return self.sees_board(variant) or (announced and bool(self.holding("receives_results", variant)))

    def sees_all_data(self, variant: str) -> bool:
        """The raw data of the instances one sees, where every task's variables meet: overseers only."""
        return self.is_admin or bool(self.holding("sees_all_regions", variant))

    def _holds(self, power: str, variant: str, region: str | None) -> bool:
        return any(g.region is None or g.region == region for g in self.holding(power, variant))

    def reads(self, work: Work, announced: bool) -> bool:
        """Whether this viewer may read what one task wrote: its data and the files uploaded on it.

        Its writer, and anyone who could have done the task (the same region, the same member unit), read
        it. Otherwise only who sees its instance, once it is submitted: overseers always; then by the powers
        of the body that wrote it — a scorer's (member unit's) opinions and scores are never read by another
        scorer, and by the assessed region once results are announced; an assessor's (assessment group's)
        work by scorers (they score from it) and by the region once announced; the region's own filings and
        the lead agency's decisions on them by all who see the instance; the campaign instance's work
        (compiling, approving results) by the rest once announced."""
        if work.actor == self.username or self.covers(work):
            return True
        if not self.sees_instance(work.variant, work.region):
            return False
        if self.sees_all_data(work.variant):
            return True
        if not work.submitted or work.role is None:
            return False
        if work.region is None:
            return announced
        wrote = self.powers(work.variant, work.role)
        if "scores" in wrote:
            return announced and self._holds("own_region", work.variant, work.region)
        if "assesses" in wrote:
            return announced or self._holds("scores", work.variant, work.region)
        return True

    def reads_result(self, variant: str, region: str | None, announced: bool) -> bool:
        """A region's total, grade and veto (derived from every unit's scores): overseers at any time, the
        others who see the instance once results are announced."""
        return self.sees_instance(variant, region) and (self.sees_all_data(variant) or announced)


def viewer(session: Session, username: str) -> Viewer:
    """The active user ``username`` with their grants; NotFound otherwise."""
    user = session.scalars(select(User).where(User.username == username, User.active.is_(True))).one_or_none()
    if user is None:
        raise NotFound(f"用户 {username} 不存在或已停用 (no active user '{username}')")
    return viewer_of(session, user)


#: Read on every request (the statement built once: building it cost more than running it).
_GRANTS = direct.Statement(select(RoleAssignment.role, RoleAssignment.region, RoleAssignment.unit,
                                   RoleAssignment.variant).where(RoleAssignment.user_id == bindparam("user_id")))


def viewer_of(session: Session, user) -> Viewer:
    """``user`` (active, already read: a User, or a row with its id, username and display_name) with their grants."""
    grants = tuple(Grant(*row) for row in _GRANTS.all(session, {"user_id": user.id}))
    variants = None if any(g.variant is None for g in grants) else {g.variant for g in grants}
    return Viewer(user.id, user.username, user.display_name, grants, bodies.powers(session, variants))


def instance_variant(session: Session, instance: Instance) -> str:
    return session.get(ProcessVersion, instance.version_id).variant


def visible_instance(session: Session, who: Viewer, instance_id: int) -> tuple[Instance, str]:
    """The instance and its variant, if ``who`` may see it; NotFound for a missing one, else PermissionDenied."""
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"流程实例 {instance_id} 不存在 (no instance {instance_id})")
    variant = instance_variant(session, instance)
    if not who.sees_instance(variant, instance.region):
        raise PermissionDenied(f"无权查看流程实例 {instance_id} (you may not see instance {instance_id})")
    return instance, variant


def campaign(session: Session, campaign_id: int) -> Campaign:
    row = session.get(Campaign, campaign_id)
    if row is None:
        raise NotFound(f"考核 {campaign_id} 不存在 (no campaign {campaign_id})")
    return row
