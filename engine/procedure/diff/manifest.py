"""bundle.yaml compared setting by setting; deadlines by task, the reminder policy, bodies; regions.yaml."""

from __future__ import annotations

from ...people.accounts import ROLE_NAMES
from . import bpmn
from .model import Change, Item, Side, compare_items, text

#: Top-level settings of bundle.yaml, in words; lanes, deadlines, reminders and bodies have their own sections.
SETTINGS = {
    "key": "代码 (key)", "title": "标题 (title)", "assessment_year": "考核年度 (assessment year)",
    "scale": "总分 (scale)", "grades": "等级 (grades)", "failing_grade": "不合格等级 (failing grade)",
    "grade_decision": "等级决策表 (grade decision)", "results": "结果运用 (results and consequences)",
    "calendar": "日历 (calendar)", "campaign_process": "年度流程 (campaign process)",
    "region_process": "地区流程 (region process)", "scheme": "指标体系文件 (scheme file)",
    "regions": "考核对象文件 (regions file)", "simulation_start": "模拟开始日 (simulation start)",
    "start_variables": "启动变量 (start variables)",
}
OWN_SECTIONS = {"lanes", "deadlines", "reminders", "bodies"}
#: What the keys inside a setting are called.
WORDS = {
    "consequences": "后果", "commended": "通报表扬 (commended)", "must_rectify": "书面整改 (must rectify)",
    "interview": "约谈 (interview)", "grades": "等级 (grades)", "best": "前几名 (best)", "last": "后几名 (last)",
    "vetoed": "否决 (vetoed)", "reported_by": "上报消息 (reported by)", "announced_by": "通报消息 (announced by)",
    "extend_weekends": "遇周末顺延 (extend over weekends)", "start": "起始日 (start)", "label": "年度名称 (label)",
    "date": "日期 (date)", "year": "年 (year)",
    "before_days": "提前几天提醒 (days before)", "on_due_day": "到期当日提醒 (on the due day)",
    "overdue": "逾期提醒 (when overdue)", "hour": "提醒时刻 (hour)",
    "escalate_after_days": "逾期几天后督办 (escalate after days)", "escalation": "督办",
}
YEARS = {"july": "7月1日至次年6月30日 (july)", "calendar": "1月1日至12月31日 (calendar)"}
_YEAR_OFFSET = {-1: "上一年", 0: "当年", 1: "次年", 2: "第三年"}


def settings(old: Side, new: Side) -> list[Change]:
    return compare_items("settings", _settings(old), _settings(new), {})


def deadlines(old: Side, new: Side) -> list[Change]:
    return compare_items("deadlines", _deadlines(old), _deadlines(new), {"due": "期限 (due)"})


def reminders(old: Side, new: Side) -> list[Change]:
    return compare_items("reminders", _reminders(old), _reminders(new), {})


def bodies(old: Side, new: Side) -> list[Change]:
    labels = {"name": "名称 (name)", "like": "权限同 (like)", "powers": "权限 (powers)"}
    return compare_items("bodies", _bodies(old), _bodies(new), labels)


def regions(old: Side, new: Side) -> list[Change]:
    return compare_items("regions", _regions(old), _regions(new), {"name": "名称 (name)"})


def _settings(side: Side) -> dict[str, Item]:
    items = {}
    for key, value in side.manifest.items():
        if key in OWN_SECTIONS:
            continue
        label = SETTINGS.get(key, str(key))
        if key == "assessment_year":
            values = {label: YEARS.get(value, text(value)) if isinstance(value, str) else text(value)}
        elif isinstance(value, dict):
            values = _flat(value)
        else:
            values = {label: text(value)}
        items[str(key)] = Item(label, "设置 (setting)", values, "bundle.yaml", type="setting")
    return items


def _flat(value, path: tuple = ()) -> dict[str, str | None]:
    """Nested settings as ``{"通报表扬 (commended) › 等级 (grades)": "A"}``."""
    if isinstance(value, dict) and value:
        flat: dict[str, str | None] = {}
        for key, inner in value.items():
            flat |= _flat(inner, (*path, key))
        return flat
    return {" › ".join(WORDS.get(str(p), str(p)) for p in path): text(value)}


def _deadlines(side: Side) -> dict[str, Item]:
    rules = side.manifest.get("deadlines")
    if not isinstance(rules, dict):
        return {}
    diagram = bpmn.read_diagram(side)
    items = {}
    for task, rule in rules.items():
        ref = diagram.ref(str(task))
        lane = diagram.lane_of.get(str(task))
        items[str(task)] = Item(ref.name, "固定期限 (fixed deadline)", {"due": _due(rule)}, "bundle.yaml",
                                lane=lane.get("name") if lane is not None else None, type="deadline")
    return items


def _due(rule) -> str | None:
    """``{date: "06-30", year: 1}`` as 「次年 6月30日 (06-30, year +1)」."""
    if not isinstance(rule, dict):
        return text(rule)
    try:
        month, day = (int(p) for p in str(rule["date"]).split("-"))
        year = int(rule.get("year", 0))
    except (KeyError, TypeError, ValueError):
        return text(rule)
    return f"{_YEAR_OFFSET.get(year, f'第 {year} 年')} {month}月{day}日 ({rule['date']}, year {year:+d})"


def _reminders(side: Side) -> dict[str, Item]:
    policy = side.manifest.get("reminders")
    if not isinstance(policy, dict):
        return {}
    values = {}
    for key, value in policy.items():
        if key == "escalation" and isinstance(value, dict):
            for role, to in value.items():
                who = ROLE_NAMES.get(role)
                values[f"督办：{who + '（' + str(role) + '）' if who else role} 逾期时报 (escalation)"] = side.role(to)
        else:
            values[WORDS.get(str(key), str(key))] = text(value)
    return {"reminders": Item("提醒与督办规则", "提醒规则 (reminder policy)", values, "bundle.yaml", type="setting")}


def _bodies(side: Side) -> dict[str, Item]:
    found = side.manifest.get("bodies")
    items = {}
    for body in found if isinstance(found, list) else []:
        if isinstance(body, dict):
            values = {"name": text(body.get("name")), "like": side.role(body.get("like")),
                      "powers": text(body.get("powers"))}
            items[str(body.get("code"))] = Item(str(body.get("name") or body.get("code")), "机构 (body)", values,
                                                "bundle.yaml", type="body")
    return items


def _regions(side: Side) -> dict[str, Item]:
    file = side.manifest.get("regions") or "regions.yaml"
    return {str(r.get("code")): Item(f"{r.get('name') or ''}（{r.get('code')}）", "考核对象 (region)",
                                     {"name": text(r.get("name"))}, file, type="region")
            for r in side.regions}
