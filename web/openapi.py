"""The OpenAPI 3 description of /api/v1."""

from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {str(code): {"$ref": f"#/components/responses/{name}"}
           for code, name in ((400, "Invalid"), (401, "Unauthorized"), (403, "Forbidden"), (404, "NotFound"),
                              (409, "Conflict"))}


def _op(summary: str, ok: dict, params: list | None = None, body: dict | None = None, tag: str = "tasks") -> dict:
    op = {"summary": summary, "tags": [tag], "responses": {"200": ok, **_ERRORS}}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    return op


_REASON = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["reason"],
    "properties": {"reason": {"type": "string"}, "upgrade": {"type": "boolean"}}}}}}


def _path_param(name: str, kind: str = "string") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _query(name: str, description: str, kind: str = "string", enum: list | None = None) -> dict:
    schema = {"type": kind} | ({"enum": enum} if enum else {})
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def document() -> dict:
    task_id = _path_param("task_id")
    return {
        "openapi": "3.0.3",
        "info": {"title": "Kaohe 考核 API", "version": "1",
                 "description": "质量工作考核: tasks, instances and campaigns. Create a token on the account page "
                                "and send it as `Authorization: Bearer <token>`."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/tasks": {"get": _op("Ready tasks the caller may act on or supervise", _json(
                {"type": "object", "properties": {"tasks": {"type": "array", "items": _ref("Task")}}}), [
                _query("scope", "mine (claimed by me), claimable, or all", enum=["mine", "claimable", "all"]),
                _query("campaign", "campaign id", "integer"), _query("step", "BPMN id of the user task"),
                _query("region", "region code"), _query("state", "due date state", enum=["due_soon", "overdue"])])},
            "/tasks/{task_id}": {"get": _op("A task with its form (JSON Schema and UI schema) and instructions",
                                            _json(_ref("TaskDetail")), [task_id])},
            "/tasks/{task_id}/complete": {"post": _op(
                "Submit the task's form data; validated against its JSON Schema",
                _json(_ref("Completion")), [task_id],
                {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}})},
            "/tasks/{task_id}/claim": {"post": _op("Claim a task", _json({"type": "object"}), [task_id])},
            "/tasks/{task_id}/unclaim": {"post": _op("Release a claim", _json({"type": "object"}), [task_id])},
            "/tasks/{task_id}/files": {"post": _op(
                "Upload one evidence file (PDF, PNG, JPEG, DOCX, XLSX or UTF-8 text); list the answer in the "
                "form's evidence", _json(_ref("File")), [task_id],
                {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}})},
            "/instances/{instance_id}": {"get": _op(
                "An instance: state, current tasks, timeline, and what the caller may read of it",
                _json(_ref("Instance")), [_path_param("instance_id", "integer")], tag="instances")},
            "/campaigns": {"get": _op("Campaigns the caller may follow", _json(
                {"type": "object", "properties": {"campaigns": {"type": "array", "items": _ref("Campaign")}}}),
                tag="campaigns")},
            "/campaigns/{campaign_id}": {"get": _op("A campaign: its board (overseers) and its results",
                                                    _json(_ref("Campaign")), [_path_param("campaign_id", "integer")],
                                                    tag="campaigns")},
            "/incidents": {"get": _op("Open incidents: instances held up at a step that failed (administrators)",
                                      _json({"type": "array", "items": {"type": "object"}}),
                                      [_query("campaign", "campaign id", "integer")], tag="incidents")},
            "/incidents/{incident_id}/retry": {"post": _op(
                "Run the instance again, on the newest version with upgrade: true; a reason is required",
                _json({"type": "object"}), [_path_param("incident_id", "integer")], _REASON, tag="incidents")},
            "/incidents/{incident_id}/cancel": {"post": _op(
                "Cancel the instance; a reason is required", _json({"type": "object"}),
                [_path_param("incident_id", "integer")], _REASON, tag="incidents")},
            "/procedures/migration-preview": {"get": _op(
                "Each instance of a campaign: whether it can move to a newer version of its procedure, and why "
                "not (administrators)", _json(_ref("MigrationPlan")),
                [dict(_query("campaign", "campaign id", "integer"), required=True),
                 _query("to_version", "version number of the campaign's procedure (default: its current one)",
                        "integer")], tag="procedures")},
            "/procedures/migrations": {"post": _op(
                "Migrate a campaign's instances (all, or those listed) to a newer version, one transaction each; "
                "an instance that cannot move is refused and left as it was (administrators)",
                _json(_ref("MigrationPlan")), body={"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "campaign": {"type": "integer"}, "to_version": {"type": "integer"},
                        "instances": {"type": "array", "items": {"type": "integer"}}}}}}}, tag="procedures")},
            "/openapi.json": {"get": {"summary": "This document", "security": [], "tags": ["meta"],
                                      "responses": {"200": _json({"type": "object"})}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {name: _json(_ref("Error"), text) for name, text in (
                ("Invalid", "Invalid data; `errors` lists the fields"), ("Unauthorized", "No valid token"),
                ("Forbidden", "Not allowed for this user"), ("NotFound", "No such object"),
                ("Conflict", "Somebody else changed it first"))},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string", "example": "scores/0/score"}, "message": {"type": "string"}}}}}},
                "Task": {"type": "object", "properties": {
                    "id": {"type": "string"}, "instance": {"type": "integer"},
                    "campaign": {"type": "integer", "nullable": True}, "variant": {"type": "string"},
                    "step": {"type": "string"}, "name": {"type": "string"}, "role": {"type": "string"},
                    "region": {"type": "string", "nullable": True}, "unit": {"type": "string", "nullable": True},
                    "form": {"type": "string", "nullable": True}, "assignee": {"type": "string", "nullable": True},
                    "created_at": {"type": "string", "format": "date-time"},
                    "due_at": {"type": "string", "format": "date-time", "nullable": True}}},
                "TaskDetail": {"allOf": [_ref("Task"), {"type": "object", "properties": {
                    "schema": {"type": "object"}, "uischema": {"type": "object"},
                    "instructions": {"type": "string"}, "can_act": {"type": "boolean"}}}]},
                "Completion": {"type": "object", "properties": {
                    "instance": {"type": "integer"}, "task": {"type": "string"}, "status": {"type": "string"},
                    "next_tasks": {"type": "array", "items": {"type": "string"}}}},
                "File": {"type": "object", "properties": {
                    "name": {"type": "string"}, "sha256": {"type": "string"}, "size": {"type": "integer"},
                    "type": {"type": "string"}, "task": {"type": "string", "nullable": True},
                    "uploader": {"type": "string"}, "at": {"type": "string", "format": "date-time"}}},
                "Instance": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "campaign": {"type": "integer"}, "process": {"type": "string"},
                    "region": {"type": "string", "nullable": True}, "status": {"type": "string"},
                    "done": {"type": "array", "items": {"type": "string"}},
                    "current": {"type": "array", "items": _ref("Task")},
                    "timeline": {"type": "array", "items": {"type": "object"}},
                    "submissions": {"type": "array", "description": "Completed tasks the caller may read, newest "
                                    "first (docs/security.md)", "items": _ref("Submission")},
                    "files": {"type": "array", "description": "Evidence files the caller may read",
                              "items": _ref("File")},
                    "result": {"type": "object", "nullable": True, "description": "A region's score, grade and "
                               "veto: overseers at any time, others once results are announced"},
                    "data": {"type": "object", "description": "The raw instance data: only for the "
                             "administrator, lead agency, assessment group and approver"}}},
                "Submission": {"type": "object", "properties": {
                    "task": {"type": "string"}, "step": {"type": "string"},
                    "role": {"type": "string", "nullable": True}, "region": {"type": "string", "nullable": True},
                    "unit": {"type": "string", "nullable": True}, "actor": {"type": "string"},
                    "at": {"type": "string", "format": "date-time"}, "data": {"type": "object"}}},
                "MigrationPlan": {"type": "object", "properties": {
                    "variant": {"type": "string"}, "to_version": {"type": "integer"},
                    "campaign": {"type": "integer", "nullable": True}, "migratable": {"type": "integer"},
                    "refused": {"type": "integer"}, "migrated": {"type": "integer"},
                    "instances": {"type": "array", "items": {"type": "object", "properties": {
                        "instance": {"type": "integer"}, "process": {"type": "string"},
                        "region": {"type": "string", "nullable": True},
                        "region_name": {"type": "string", "nullable": True}, "status": {"type": "string"},
                        "from_version": {"type": "integer"},
                        "at": {"type": "array", "items": {"type": "string"}, "description": "The steps it waits at"},
                        "migratable": {"type": "boolean"},
                        "reasons": {"type": "array", "items": {"type": "string"},
                                    "description": "Why it cannot move, in words (Chinese with English)"},
                        "outcome": {"type": "string", "enum": ["preview", "migrated", "refused"]}}}}}},
                "Campaign": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "variant": {"type": "string"}, "year": {"type": "integer"},
                    "label": {"type": "string"}, "status": {"type": "string"},
                    "regions": {"type": "array", "items": {"type": "string"}},
                    "announced": {"type": "boolean"}, "board": {"type": "array", "items": {"type": "object"}},
                    "results": {"type": "array", "items": {"type": "object"}}}},
            },
        },
    }
