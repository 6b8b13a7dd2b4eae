"""The parameters each warning rule accepts, with their types and possible values.

A rule's ``parameters`` in rules.yaml are validated against its model here when the policy is
loaded: a misspelt key, a value outside the feed's vocabulary (``insurance_types: [城乡]``) or an
impossible number (an age of 300, a share of 0) stops the night at start, naming the file and line.
Which SQL variable reads each parameter is checked separately (pipelines/rules.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from pipelines.feeds import FEEDS

__all__ = ["RULE_PARAMETERS"]


def _vocabulary(feed: str, column: str):
    allowed = FEEDS[feed].column(column).allowed

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not a value of {feed}.{column} ({', '.join(allowed)})")
        return value

    return Annotated[str, AfterValidator(check)]


Category = _vocabulary("civil_affairs", "category")
Identity = _vocabulary("medical_settlements", "insured_identity")
InsuranceType = _vocabulary("medical_settlements", "insurance_type")
EnrolmentStatus = _vocabulary("medical_enrollment", "status")
Stage = _vocabulary("education", "stage")
SchoolStatus = _vocabulary("education", "status")
Rating = _vocabulary("housing", "safety_rating")
Renovation = _vocabulary("housing", "renovation")
SupportMode = _vocabulary("civil_affairs", "support_mode")
DisabilityType = _vocabulary("disability", "disability_type")
Health = _vocabulary("civil_affairs", "health")
LabourAbility = _vocabulary("civil_affairs", "labor_ability")
Employment = _vocabulary("civil_affairs", "employment")
Grade = Annotated[int, Field(ge=1, le=4)]
Age = Annotated[int, Field(ge=0, le=120)]
Line = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
Share = Annotated[float, Field(gt=0, le=10)]
NonEmpty = Field(min_length=1)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AgeRange(_Params):
    min_age: Age
    max_age: Age

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        return self


class _LowIncomeInsured(_Params):
    """The medical rules' common reading of "low-income person" and the insurance in scope."""

    insurance_types: list[InsuranceType] = NonEmpty
    low_income_categories: list[Category] = NonEmpty
    identity_low_income_values: list[Identity]


class MedOopSingle(_LowIncomeInsured):
    warning_line_low_income: Line
    warning_line_other: Line
    event_date: Literal["settled_on", "discharged_on", "admitted_on"]
    identity_fallback: Literal["never", "outside_roster_coverage", "always"]
    period: Literal["month", "year", "settlement"]

    @model_validator(mode="after")
    def _lines(self):
        if self.warning_line_low_income > self.warning_line_other:
            raise ValueError("warning_line_low_income is above warning_line_other: the poor would be warned later")
        return self


class MedOopAnnual(_LowIncomeInsured):
    share_low_income: Share
    share_other: Share
    unknown_township: Literal["rural", "urban", "skip"]


class InsNotEnrolled(_LowIncomeInsured):
    active_status: list[EnrolmentStatus] = NonEmpty


class EduAidMissing(_Params):
    stages: list[Stage] = NonEmpty
    categories: list[Category] = NonEmpty


class EduDisabledOutOfSchool(_AgeRange):
    categories: list[Category] = NonEmpty
    schooled: list[SchoolStatus] = NonEmpty


class HousingUnsafe(_Params):
    unsafe_ratings: list[Rating] = NonEmpty
    not_renovated: list[Renovation] = NonEmpty
    categories: list[Category]
    tekun_support_modes: list[SupportMode]


class DisabilitySubsidyGap(_Params):
    care_grades: list[Grade]
    living_categories: list[Category]


class SinglePersonDibao(_Params):
    income_multiple: Annotated[float, Field(gt=1, le=5)]
    age: Age
    severe_grades: list[Grade]
    grade3_types: list[DisabilityType]
    severe_health: list[Health]
    categories: list[Category] = NonEmpty


class ZeroEmployment(_AgeRange):
    able: list[LabourAbility] = NonEmpty
    employed: list[Employment] = NonEmpty


class ReviewOverdue(_Params):
    months_tekun: Annotated[int, Field(ge=1, le=60)]
    months_dibao_a: Annotated[int, Field(ge=1, le=60)]
    months_dibao_b: Annotated[int, Field(ge=1, le=60)]
    months_dibao_unclassified: Annotated[int, Field(ge=1, le=60)]


class PhaseOutEnding(_Params):
    days: Annotated[int, Field(ge=0, le=366)]


class MinorAgeOut(_Params):
    age: Annotated[int, Field(ge=14, le=25)]
    days: Annotated[int, Field(ge=1, le=366)]


class NoParameters(_Params):
    pass


class IdentityConflict(_Params):
    methods: list[Literal["exact", "normalised", "certificate", "probabilistic"]] = NonEmpty
    homophones_are_same: bool


RULE_PARAMETERS: dict[str, type[_Params]] = {
    "MED_OOP_SINGLE": MedOopSingle,
    "MED_OOP_ANNUAL": MedOopAnnual,
    "INS_NOT_ENROLLED": InsNotEnrolled,
    "EDU_AID_MISSING": EduAidMissing,
    "EDU_DISABLED_OUT_OF_SCHOOL": EduDisabledOutOfSchool,
    "HOUSING_UNSAFE": HousingUnsafe,
    "DISABILITY_SUBSIDY_GAP": DisabilitySubsidyGap,
    "SINGLE_PERSON_DIBAO": SinglePersonDibao,
    "ZERO_EMPLOYMENT": ZeroEmployment,
    "REVIEW_OVERDUE": ReviewOverdue,
    "PHASE_OUT_ENDING": PhaseOutEnding,
    "MINOR_AGE_OUT": MinorAgeOut,
    "RECIPIENT_DECEASED": NoParameters,
    "NEW_DISABILITY": NoParameters,
    "IDENTITY_CONFLICT": IdentityConflict,
}
