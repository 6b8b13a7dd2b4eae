-- IDENTITY_CONFLICT (data-matching hygiene): one ID number carrying a clearly different name than the
-- person's reference record (household registry, else roster), or a record whose birth date or sex
-- contradicts what its ID number embeds (digits 7–14; the 17th digit odd = male). Not clearly
-- different: the same name once spaces, full width and traditional characters are folded, or a
-- homophone with the same surname (张立华 for 张丽华: an input-method slip), when
-- `homophones_are_same` is true. Only rows linked by their own ID (`methods`) are checked: a row
-- linked by the probabilistic matcher carries a mistyped ID, not a conflicting identity.
-- One alert per person and year; the figure is the number of conflicting records.
create or replace table marts.hit__identity_conflict as
with judged as (
    select r.*,
           r.name_norm <> r.reference_name
               and not coalesce(j.folded_same or (getvariable('ic_homophones_are_same') and j.homophone), false)
               as name_differs,
           r.birth_date <> id_birth_date(r.id_number) as birth_differs,
           r.sex <> id_sex(r.id_number) as sex_differs
    from marts.identity_row r
    left join marts.name_judgement j on j.name = r.name_norm and j.reference_name = r.reference_name
),
conflicts as (
    select * from judged
    where coalesce(name_differs, false) or coalesce(birth_differs, false) or coalesce(sex_differs, false)
),
final as (
    select 'IDENTITY_CONFLICT' as rule_id, 'person' as subject_type, c.person_id, null::varchar as household_key,
           strftime(getvariable('as_of'), '%Y') as period,
           count(*)::decimal(14, 2) as figure, null::decimal(14, 2) as threshold,
           list({feed: c.feed, source_file: d.source_file, row_number: c.row_number, record_key: c.record_key,
                 method: c.method, score: c.score,
                 detail: concat_ws(', ', case when c.name_differs then 'name differs from the ' || c.reference_feed
                                               || ' record ' || rd.source_file || '#' || c.reference_row_number end,
                                   case when c.birth_differs then 'birth date differs from the ID number' end,
                                   case when c.sex_differs then 'sex differs from the ID number' end)}
                order by c.feed, d.source_file, c.row_number) as evidence
    from conflicts c
    join meta.delivery d on d.delivery_id = c.delivery_id
    left join meta.delivery rd on rd.delivery_id = c.reference_delivery_id
    group by c.person_id
)
select * from final;
