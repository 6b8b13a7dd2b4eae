"""The queue and a household's case as XLSX with Chinese headers (for the desk, and printed for visits).

Column order is a public interface like the CLI's exports: add at the end, never rename. ID numbers
and names are masked: a workbook leaves the system and is not audited once it has. Every text cell is
written through :func:`pipelines.outputs.exports.sheet_row`: a village, household code or comment starting
with ``=`` is text in the workbook, never a formula.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from itertools import chain

from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Font

from pipelines.outputs.exports import sheet_row
from webapp.casework.models import Condition, Outcome, Status
from webapp.casework.rules import RULE_NAMES
from webapp.casework.scope import mask_id, mask_name

__all__ = ["QUEUE_HEADERS", "queue_workbook", "household_workbook", "xlsx_response"]

QUEUE_HEADERS = [
    "序号", "预警编号", "规则", "规则名称", "乡镇（街道）", "村（社区）",
    "家庭编号", "户号", "对象姓名", "对象身份证号", "期间", "数值",
    "警戒线", "风险分", "办理状态", "预警情况", "经办人", "首次预警",
    "办结期限", "是否逾期", "升级县级日期", "办结结果",
]  # fmt: skip


def _sheet(wb: Workbook, title: str, headers: list[str], rows: Iterable[list]) -> int:
    ws = wb.create_sheet(title)
    ws.append(sheet_row(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    n = 0
    for n, row in enumerate(rows, start=1):  # noqa: B007
        ws.append(sheet_row(row))
    ws.freeze_panes = "A2"
    for i, header in enumerate(headers, start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = max(10, 2 * len(header) + 2)
    return n


def _label(choices, value: str) -> str:
    return choices(value).label if value in choices.values else (value or "")


def queue_workbook(alerts) -> tuple[bytes, int]:
    today = timezone.localdate()
    wb = Workbook()
    wb.remove(wb.active)
    rows = (
        [
            i,
            a.alert_id,
            a.rule_id,
            RULE_NAMES.get(a.rule_id, a.rule_id),
            a.township.name,
            a.village,
            a.household.household_code,
            a.household.hukou_number,
            mask_name(a.person.name) if a.person else "",
            mask_id(a.person.id_number) if a.person else "",
            a.period,
            a.figure,
            a.threshold,
            a.score,
            _label(Status, a.status),
            _label(Condition, a.condition),
            a.assignee.display() if a.assignee else "",
            a.first_raised_on,
            a.deadline,
            "是" if a.status != Status.CLOSED and a.deadline < today else "否",
            a.escalated_on or "",
            _label(Outcome, a.outcome),
        ]
        for i, a in enumerate(alerts.iterator(chunk_size=2000), start=1)
    )
    n = _sheet(wb, "预警队列", QUEUE_HEADERS, rows)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), n


def household_workbook(household, members, alerts, events) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, "家庭", ["项目", "内容"], [
        ["家庭编号", household.household_code], ["户号", household.hukou_number],
        ["乡镇（街道）", household.township.name], ["村（社区）", household.village],
        ["救助类别", household.category], ["人数", household.members], ["风险分", household.score],
        ["数据日期", household.last_night], ["导出时间", timezone.localtime().strftime("%Y-%m-%d %H:%M")],
    ])  # fmt: skip
    _sheet(wb, "家庭成员", ["姓名", "身份证号", "与户主关系", "性别", "出生日期", "救助类别"], (
        [mask_name(m.person.name), mask_id(m.person.id_number), m.relation, m.person.sex, m.person.birth_date,
         m.category] for m in members
    ))  # fmt: skip
    alerts = list(alerts)
    _sheet(wb, "预警信号", ["预警编号", "规则", "规则名称", "对象", "期间", "数值", "警戒线", "办理状态", "预警情况",
                         "经办人", "首次预警", "办结期限", "办结结果"], (
        [a.alert_id, a.rule_id, RULE_NAMES.get(a.rule_id, a.rule_id), mask_name(a.person.name) if a.person else "",
         a.period, a.figure, a.threshold, _label(Status, a.status), _label(Condition, a.condition),
         a.assignee.display() if a.assignee else "", a.first_raised_on, a.deadline, _label(Outcome, a.outcome)]
        for a in alerts
    ))  # fmt: skip
    _sheet(wb, "证据", ["预警编号", "部门数据", "来源文件#行", "记录键", "匹配方式", "匹配得分", "说明"], chain((
        [a.alert_id, e.get("feed"), f"{e.get('source_file')}#{e.get('row_number')}", e.get("record_key"),
         e.get("method"), e.get("score"),
         "; ".join(f"{k}: {v}" for k, v in e.items()
                   if k not in {"feed", "source_file", "row_number", "record_key", "method", "score", "link"})]
        for a in alerts for e in (a.evidence or [])
    ), (  # an alert keeps its largest rows only (the night's policy): say how many more there are
        [a.alert_id, "", "", "", "", "", f"另有 {a.evidence_omitted} 条证据未列出"]
        for a in alerts if a.evidence_omitted
    )))  # fmt: skip
    _sheet(wb, "办理记录", ["时间", "操作人", "操作", "预警编号", "原状态", "新状态", "说明"], (
        [timezone.localtime(ev.at).strftime("%Y-%m-%d %H:%M:%S"), ev.actor_name, ev.get_action_display(),
         ev.alert.alert_id if ev.alert else "", ev.from_status, ev.to_status, ev.comment]
        for ev in events
    ))  # fmt: skip
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_response(data: bytes, filename: str) -> HttpResponse:
    from urllib.parse import quote

    response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
