-- A point-in-time rebuild (`rebuildMain.ts <projection> --until …`) builds a generation as of a
-- bound and keeps it beside the active one as a `snapshot`: read by platform admins who name it
-- (`DeepLens-Generation`), never switched to until promoted, or dropped. `until_bound` holds the
-- bound it was built to: `{"label": …, "ends": {"topic:partition": end offset (exclusive)}}`.
alter table projections.generations drop constraint if exists generations_status_check;
alter table projections.generations add constraint generations_status_check
  check (status in ('building', 'active', 'retired', 'snapshot'));
alter table projections.generations add column if not exists until_bound jsonb;
