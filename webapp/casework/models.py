"""The casework store: what the night publishes and what caseworkers write, kept apart.

Fields under "from the night" are written by :func:`webapp.casework.publish.publish_night` only;
fields under "casework" are written by people (through :mod:`webapp.casework.lifecycle`) only. The
night's upsert names its columns, so nothing a caseworker wrote is ever overwritten by a night.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from pipelines.core.idcard import mask_id, mask_name


class Role(models.TextChoices):
    CASEWORKER = "caseworker", "乡镇（街道）经办人"
    COUNTY = "county", "县级民政工作人员"
    ADMIN = "admin", "系统管理员"


class Status(models.TextChoices):
    NEW = "new", "新预警"
    ASSIGNED = "assigned", "已分派"
    VERIFYING = "verifying", "入户核查中"
    CLOSED = "closed", "已办结"


class Outcome(models.TextChoices):
    ASSISTED = "assisted", "已救助"
    REFERRED = "referred", "已转介其他部门"
    NOT_ELIGIBLE = "not_eligible", "不符合条件"
    FALSE_ALARM = "false_alarm", "误报"


class Condition(models.TextChoices):
    """What the latest night says about the warning's condition (not the case's status)."""

    OPEN = "open", "仍然存在"
    CLEARED = "cleared", "已消除"
    CLOSED = "closed", "已办结"


class Township(models.Model):
    code = models.CharField("乡镇代码", max_length=9, unique=True)  # county (6) + township (3)
    name = models.CharField("乡镇（街道）", max_length=64)
    county_code = models.CharField("县级代码", max_length=6, db_index=True)

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    role = models.CharField("角色", max_length=16, choices=Role.choices, default=Role.CASEWORKER)
    township = models.ForeignKey(Township, null=True, blank=True, on_delete=models.PROTECT, verbose_name="所属乡镇")
    county_code = models.CharField("所属县（区）", max_length=6, blank=True)

    def display(self) -> str:
        return self.get_full_name() or self.username


class RegionYear(models.Model):
    """The region figures casework needs (seed 004 (十四) approval tiers), published from the policy."""

    county_code = models.CharField(max_length=6)
    year = models.IntegerField()
    dibao_standard_urban_monthly = models.DecimalField(max_digits=12, decimal_places=2)
    township_multiple_of_urban_dibao = models.DecimalField(max_digits=6, decimal_places=2)
    county_bureau_max = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["county_code", "year"], name="region_year_unique")]


class Household(models.Model):
    # from the night
    key = models.CharField(max_length=64, unique=True)  # CA:<家庭编号> | HK:<户号> | P:<person>
    household_code = models.CharField("家庭编号", max_length=64, blank=True)
    hukou_number = models.CharField("户号", max_length=64, blank=True)
    category = models.CharField("救助类别", max_length=16, blank=True)
    township = models.ForeignKey(Township, on_delete=models.PROTECT, related_name="households")
    village = models.CharField("村（社区）", max_length=64, blank=True)
    region_code = models.CharField(max_length=12, blank=True)
    members = models.IntegerField("人数", default=0)
    score = models.DecimalField("风险分", max_digits=10, decimal_places=2, default=0)
    score_parts = models.JSONField(default=dict)
    last_night = models.DateField()

    def __str__(self) -> str:
        return self.household_code or self.hukou_number or self.key


class Person(models.Model):
    # from the night; the full ID number is stored, and shown only through an audited reveal
    person_id = models.BigIntegerField(unique=True)
    household = models.ForeignKey(Household, null=True, on_delete=models.SET_NULL, related_name="people")
    id_number = models.CharField(max_length=18)
    name = models.CharField(max_length=64)
    sex = models.CharField(max_length=2, blank=True)
    birth_date = models.DateField(null=True)
    relation = models.CharField("与户主关系", max_length=16, blank=True)
    category = models.CharField(max_length=16, blank=True)
    township = models.ForeignKey(Township, on_delete=models.PROTECT, related_name="people")
    last_night = models.DateField()


class Member(models.Model):
    """Who belongs to a household tonight (a person can be in a roster household and a registry household)."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    relation = models.CharField("与户主关系", max_length=16, blank=True)
    category = models.CharField("救助类别", max_length=16, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["household", "person"], name="member_unique")]


class Alert(models.Model):
    # ---- from the night -------------------------------------------------------------------------
    alert_id = models.CharField(max_length=32, unique=True)
    rule_id = models.CharField("规则", max_length=40, db_index=True)
    rule_version = models.IntegerField()
    subject_type = models.CharField(max_length=16)
    person = models.ForeignKey(Person, null=True, on_delete=models.SET_NULL, related_name="alerts")
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="alerts")
    township = models.ForeignKey(Township, on_delete=models.PROTECT, related_name="alerts")
    village = models.CharField("村（社区）", max_length=64, blank=True)
    period = models.CharField("期间", max_length=16)
    figure = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    threshold = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    condition = models.CharField("预警情况", max_length=16, choices=Condition.choices)
    first_raised_on = models.DateField("首次预警")
    last_seen_on = models.DateField()
    cleared_on = models.DateField("消除日期", null=True)
    evidence = models.JSONField(default=list)
    evidence_omitted = models.IntegerField("未列出的证据条数", default=0)  # the night keeps the largest rows
    score = models.DecimalField("风险分", max_digits=10, decimal_places=2, default=0)
    last_night = models.DateField()
    # ---- casework: written by people only -------------------------------------------------------
    status = models.CharField("办理状态", max_length=16, choices=Status.choices, default=Status.NEW, db_index=True)
    assignee = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="assigned_alerts")
    outcome = models.CharField("办结结果", max_length=16, choices=Outcome.choices, blank=True)
    deadline = models.DateField("办结期限")  # set once, when the case is created (policy casework.yaml)
    escalated_on = models.DateField("升级县级日期", null=True)  # set by the night when past the deadline
    closed_at = models.DateTimeField(null=True)
    version = models.IntegerField(default=0)  # optimistic lock: every casework change bumps it

    class Meta:
        indexes = [models.Index(fields=["township", "status", "-score"]), models.Index(fields=["deadline"])]


class Proposal(models.Model):
    """A temporary-assistance proposal (临时救助), routed by amount to its approval tier (seed 004 (十四))."""

    class Tier(models.TextChoices):
        TOWNSHIP = "township", "乡镇（街道）审批"
        COUNTY = "county", "县级民政部门审批"
        LEADERSHIP = "leadership", "县级困难群众基本生活保障工作领导小组（一事一议）"

    class Decision(models.TextChoices):
        PENDING = "pending", "待审批"
        APPROVED = "approved", "已批准"
        REJECTED = "rejected", "未批准"

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="proposals")
    amount = models.DecimalField("金额（元）", max_digits=12, decimal_places=2)
    tier = models.CharField("审批层级", max_length=16, choices=Tier.choices)
    basis = models.CharField("依据", max_length=200)
    reason = models.TextField("理由")
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True)


class AuditEvent(models.Model):
    """Append-only: the model refuses updates and deletes, and database triggers refuse them too."""

    class Action(models.TextChoices):
        CREATED = "created", "预警推送"
        ASSIGNED = "assigned", "分派"
        STATUS = "status", "状态变更"
        CLOSED = "closed", "办结"
        COMMENT = "comment", "备注"
        CONDITION = "condition", "预警情况变化"
        ESCALATED = "escalated", "逾期升级县级"
        PROPOSED = "proposed", "临时救助申请"
        DECIDED = "decided", "临时救助审批"
        REVEAL = "reveal", "查看完整身份证号"
        EXPORT = "export", "导出"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField(max_length=150)  # the user's name then, or 夜间作业 for the night
    action = models.CharField(max_length=16, choices=Action.choices)
    alert = models.ForeignKey(Alert, null=True, on_delete=models.PROTECT, related_name="events")
    household = models.ForeignKey(Household, null=True, on_delete=models.PROTECT, related_name="events")
    person = models.ForeignKey(Person, null=True, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    comment = models.TextField(blank=True)
    details = models.JSONField(default=dict)

    @staticmethod
    def _label(value: str) -> str:
        for choices in (Status, Condition):
            if value in choices.values:
                return str(choices(value).label)
        return value

    def person_masked(self) -> str:
        """The person of a reveal as every page shows people: name by its first character, ID masked."""
        return f"{mask_name(self.person.name)} {mask_id(self.person.id_number)}" if self.person else ""

    def from_label(self) -> str:
        return self._label(self.from_status)

    def to_label(self) -> str:
        return self._label(self.to_status)

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("the audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the audit trail is append-only")
