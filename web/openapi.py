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
            **_procedures(),
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
                **_PROCEDURE_SCHEMAS,
                "Campaign": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "variant": {"type": "string"}, "year": {"type": "integer"},
                    "label": {"type": "string"}, "status": {"type": "string"},
                    "regions": {"type": "array", "items": {"type": "string"}},
                    "announced": {"type": "boolean"}, "board": {"type": "array", "items": {"type": "object"}},
                    "results": {"type": "array", "items": {"type": "object"}}}},
            },
        },
    }


_REVISION = {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "The draft's revision that was read (its ETag); a stale one is a 409 naming who saved"}


def _procedures() -> dict:
    """The procedure library (administrators; the lead agency reads)."""
    draft_id, name = _path_param("draft_id", "integer"), _path_param("name")
    variant, number = _path_param("variant"), _path_param("number", "integer")
    saved = _json(_ref("DraftSaved"))
    text_body = {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}
    upload = {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {"file": {"type": "string", "format": "binary"},
                                         "revision": {"type": "integer"}}}}}}

    def body(**properties) -> dict:
        return {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": {k: {"type": v} for k, v in properties.items()}}}}}

    def op(summary, ok, params=None, request_body=None):
        return _op(summary, ok, params, request_body, tag="procedures")

    return {
        "/procedures": {"get": op("Every variant: its parent, versions (with campaigns and running instances on "
                                  "each), the current one, and its drafts", _json({"type": "object", "properties": {
                                      "procedures": {"type": "array", "items": _ref("Procedure")}}}))},
        "/procedures/{variant}/versions": {"get": op("One variant with its versions", _json(_ref("Procedure")),
                                                     [variant])},
        "/procedures/{variant}/versions/{number}": {"get": op("One version with every file's text",
                                                              _json({"type": "object"}), [variant, number])},
        "/procedures/{variant}/versions/{number}/current": {"post": op(
            "Make an earlier version current again (new campaigns start on it); a reason is required",
            _json({"type": "object"}), [variant, number], body(reason="string"))},
        "/procedures/drafts": {"post": op(
            "A new draft copying a version (default: the current one); new_variant makes a variant derived from it",
            _json(_ref("Draft")), None, body(variant="string", version="integer", new_variant="string",
                                             title="string", comment="string"))},
        "/procedures/drafts/{draft_id}": {
            "get": op("A draft with every file's text", _json(_ref("Draft")), [draft_id]),
            "delete": op("Delete a draft that is not published", _json({"type": "object"}), [draft_id])},
        "/procedures/drafts/{draft_id}/files/{name}": {
            "get": op("One file's text; the draft's revision is its ETag", {
                "description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}, [draft_id, name]),
            "put": op("Save one file (the body is its text)", saved, [draft_id, name, _REVISION], text_body),
            "delete": op("Delete one file", saved, [draft_id, name, _REVISION])},
        "/procedures/drafts/{draft_id}/upload": {"post": op(
            "Upload one bundle file (.bpmn, .dmn, form .json, .yaml) or a whole bundle .zip (it replaces every file)",
            saved, [draft_id], upload)},
        "/procedures/drafts/{draft_id}/zip": {"get": op("Every file of the draft as a .zip", {
            "description": "OK", "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
            [draft_id])},
        "/procedures/drafts/{draft_id}/check": {"get": op("Every problem of the draft at once", _json({
            "type": "object", "properties": {"revision": {"type": "integer"}, "publishable": {"type": "boolean"},
                                             "problems": {"type": "array", "items": _ref("Finding")}}}),
            [draft_id])},
        "/procedures/drafts/{draft_id}/publish": {"post": op(
            "Publish the draft as a new version, current for new campaigns (running ones stay on theirs); a draft "
            "with errors is refused with every finding in `errors`", _json({"type": "object"}), [draft_id],
            body(comment="string"))},
    }


_PROCEDURE_SCHEMAS = {
    "Finding": {"type": "object", "properties": {
        "file": {"type": "string", "nullable": True}, "line": {"type": "integer", "nullable": True},
        "element": {"type": "string", "nullable": True}, "name": {"type": "string", "nullable": True},
        "severity": {"type": "string", "enum": ["error", "warning"]}, "reason": {"type": "string"}}},
    "DraftSaved": {"type": "object", "properties": {
        "revision": {"type": "integer"}, "problems": {"type": "array", "items": _ref("Finding")}}},
    "Draft": {"type": "object", "properties": {
        "id": {"type": "integer"}, "variant": {"type": "string"}, "title": {"type": "string"},
        "base_version": {"type": "integer", "nullable": True}, "parent_variant": {"type": "string", "nullable": True},
        "owner": {"type": "string"}, "comment": {"type": "string"}, "revision": {"type": "integer"},
        "saved_by": {"type": "string"}, "saved_at": {"type": "string", "format": "date-time"},
        "published_version": {"type": "integer", "nullable": True},
        "files": {"description": "names (in lists) or {name: text} (a draft read alone)"}}},
    "Procedure": {"type": "object", "properties": {
        "variant": {"type": "string"}, "title": {"type": "string"}, "parent": {"type": "string", "nullable": True},
        "current": {"type": "integer", "nullable": True},
        "versions": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "version": {"type": "integer"}, "title": {"type": "string"},
            "author": {"type": "string"}, "deployed_at": {"type": "string", "format": "date-time"},
            "comment": {"type": "string", "nullable": True}, "content_hash": {"type": "string"},
            "current": {"type": "boolean"}, "campaigns": {"type": "integer"},
            "running_instances": {"type": "integer"}}}},
        "drafts": {"type": "array", "items": _ref("Draft")}}},
}
