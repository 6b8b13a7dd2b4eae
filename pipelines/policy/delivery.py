"""The delivery contract's settings that are models of their own (``delivery.yaml`` ``gx_mostly``,
``gate``, ``limits``); :class:`pipelines.policy.DeliveryPolicy` holds them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeliveryGate", "DeliveryLimits", "GxMostly"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GxMostly(_Strict):
    """Tolerances of the warning-level expectations; ``id``, ``date``, ``amount``, ``int`` are no longer
    read (the staging SQL alone says what a valid one is) and kept so that older copies still load."""

    required: float = Field(gt=0, le=1)
    allowed: float = Field(gt=0, le=1)
    id: float = Field(gt=0, le=1)
    date: float = Field(gt=0, le=1)
    amount: float = Field(gt=0, le=1)
    int: float = Field(gt=0, le=1)
    format: float = Field(gt=0, le=1)
    unique: float = Field(gt=0, le=1)


class DeliveryGate(_Strict):
    """The critical expectations of the feed contracts (delivery.yaml ``gate``, which says where each
    default comes from): a delivery failing one is held."""

    max_quarantined_share: float = Field(default=0.20, gt=0, le=1)
    max_duplicate_key_share: float = Field(default=0.05, gt=0, le=1)
    min_rows: int = Field(default=50, ge=0)


class DeliveryLimits(_Strict):
    """What one delivered file may be before the night reads it (delivery.yaml ``limits``, which says
    where each default comes from). A file over a limit is rejected with the limit in its reason."""

    max_bytes: int = Field(default=1024**3, ge=1024**2)
    max_columns: int = Field(default=500, ge=30, le=16_384)  # 16,384 (a sheet's width) loads in 15 s; 100,000 broke
    max_rows: int = Field(default=50_000_000, ge=1_000)
    max_cells: int = Field(default=500_000_000, ge=100_000)
    max_cell_length: int = Field(default=1_000_000, ge=1_000)
    xlsx_reader_memory: int = Field(default=4 * 1024**3, ge=512 * 1024**2)
    xlsx_reader_cpu_seconds: int = Field(default=900, ge=10)
