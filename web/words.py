"""What the audit log's actions are called, for the instance timeline and the audit log page, in both languages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ACTIONS = {
    "complete": _l("Handled"), "claim": _l("Claimed"), "unclaim": _l("Claim released"), "reassign": _l("Reassigned"),
    "timer": _l("Deadline reached"), "instance_start": _l("Instance started"), "campaign_start": _l("Campaign started"),
    "campaign_suspend": _l("Campaign suspended"), "campaign_resume": _l("Campaign resumed"),
    "campaign_cancel": _l("Campaign cancelled"), "sample_draw": _l("Random draw"), "upload": _l("File uploaded"),
    "download": _l("File downloaded"), "file_removed": _l("Unused file removed"),
    "instance_migrate": _l("Moved to a newer version"), "incident": _l("Failed to run"),
    "incident_retry": _l("Retried"), "incident_cancel": _l("Instance cancelled"), "urge": _l("Urged (督办)"),
    "deploy": _l("Procedure deployed"), "publish": _l("Version made current"),
    "login": _l("Signed in"), "login_failed": _l("Sign-in failed"), "login_locked": _l("Sign-in locked"),
    "logout": _l("Signed out"), "session_end": _l("Session ended"), "password": _l("Password changed"),
    "token_issue": _l("API token issued"), "token_revoke": _l("API token revoked"), "unlock": _l("Account unlocked"),
    "user_create": _l("User created"), "user_update": _l("User changed"), "grant_add": _l("Role granted"),
    "grant_remove": _l("Role withdrawn"), "region_save": _l("Region saved"), "region_delete": _l("Region deleted"),
    "regions_import": _l("Regions imported"), "regions_load": _l("Regions loaded"), "role_rename": _l("Role renamed"),
    "calendar_day": _l("Calendar day set"), "timer_retry": _l("Timer retried"), "mail_retry": _l("Mail retried"),
    "due_extend": _l("Deadline extended"), "audit_export": _l("Audit log exported"), "scheduler": _l("Scheduler"),
    "system": _l("System"),
}

#: The built-in roles' names in English mode, where the procedure's catalogue names no body of its own.
ROLES = {
    "assessed": _l("Assessed government"), "lead_agency": _l("Lead agency"), "member_unit": _l("Member unit"),
    "assessment_group": _l("Assessment group / experts"), "approver": _l("Approving authority"),
    "recipient": _l("Recipient of the results"), "admin": _l("Administrator"),
}
