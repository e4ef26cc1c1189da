-- Usage per tenant, split over stripes so that concurrent uploads of one tenant no longer queue
-- on one row (each held it locked until its commit was on disk). A stripe may only grow within
-- the allowance it was granted; the grants of a tenant's stripes never add up to more than its
-- plan's limits, so the limits still hold exactly. An upload takes a random stripe; only when
-- that stripe's grant is used up does it lock the tenant's stripes and grant again
-- (`commands/src/usageStripes.ts`).
create table write.usage_stripes (
  tenant_id text not null,
  stripe smallint not null,
  images bigint not null default 0,
  bytes bigint not null default 0,
  images_granted bigint not null default 0,
  bytes_granted bigint not null default 0,
  primary key (tenant_id, stripe)
);
insert into write.usage_stripes (tenant_id, stripe, images, bytes, images_granted, bytes_granted)
  select tenant_id, 0, images, bytes, images, bytes from write.tenant_usage;
drop table write.tenant_usage;

-- The relay is woken by the command handler after each commit (one coalesced NOTIFY outside
-- the transaction), not by a trigger: a NOTIFY inside a transaction holds a database-wide
-- lock through its commit, which made every writing transaction wait for the one before.
drop trigger outbox_appended on write.outbox;
drop function write.notify_outbox();
