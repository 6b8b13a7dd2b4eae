-- NEW_DISABILITY (seed 001 §5): a roster member certified disabled (a valid certificate) after the
-- household's last review (issued strictly after its latest 最近核查日期, on whichever member's row it
-- is): reassess the benefit (分类施保 uplift).
-- One alert per person and certificate date.
create or replace table marts.hit__new_disability as
with members as (
    select * replace (max(last_review_on) over (partition by household_key) as last_review_on)
    from dim_roster_member
),
certificates as (
    select person_id, issued_on, grade, disability_type, source_file, row_number, record_key, method, score
    from dim_certificate
),
final as (
    select 'NEW_DISABILITY' as rule_id, 'person' as subject_type, m.person_id, m.household_key,
           strftime(c.issued_on, '%Y-%m-%d') as period,
           (c.issued_on - m.last_review_on)::decimal(14, 2) as figure,  -- days after the last review
           0::decimal(14, 2) as threshold,
           [{feed: 'disability', source_file: c.source_file, row_number: c.row_number, record_key: c.record_key,
             method: c.method, score: c.score, date: c.issued_on},
            {feed: 'civil_affairs', source_file: m.source_file, row_number: m.row_number, record_key: m.record_key,
             method: m.method, score: m.score, date: m.last_review_on}] as evidence
    from members m
    join certificates c using (person_id)
    where c.issued_on > m.last_review_on
)
select * from final;
