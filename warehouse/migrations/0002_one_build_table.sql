-- One record of what every derived target was last built from (pipelines/core/incremental.py):
-- the staging tables' fingerprints join the other layers' in meta.build, as target 'staging:<feed>'.
insert or replace into meta.build (target, fingerprint)
select 'staging:' || feed, fingerprint from meta.staging;

drop table meta.staging;
