-- int_staged__key_seq: deduplication of a feed's staged rows within each delivery. A key delivered
-- twice: every row after its first is a repeat (key_seq 2; quarantined as duplicate_key), found by a
-- grouping, not a sort of every row.
-- Input: stg_rows (a staging file's rows: delivery_id, row_number, record_key, ...). Output: the
-- same rows with key_seq (1: the key's first row in its delivery).
with repeated_keys as (
    select delivery_id, record_key, min(row_number) as first_row
    from stg_rows
    group by delivery_id, record_key
    having count(*) > 1
),

final as (
    select s.*, case when s.row_number > q.first_row then 2 else 1 end as key_seq
    from stg_rows s
    left join repeated_keys q using (delivery_id, record_key)
)

select * from final
