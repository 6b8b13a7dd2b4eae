"""doudi's nightly pipeline, by stage: ``core`` (the shared contracts: errors, feeds, ID numbers, the
warehouse connection, incremental builds, migrations), ``ingest`` (landing, deliveries, readers,
sources), ``transform`` (staging, linkage, households), ``rules`` (the engine, what-if), ``outputs``
(exports, summary, notifications, the province exchange, the monthly report), ``orchestration`` (the
night's steps and their runner, partitions, counties, a local Airflow); ``policy`` and ``cli``."""
