-- The move of an installation's images to another embedding space (issue 15): at most one at a
-- time. Recorded by `embedder/src/embeddingSpaceMoveMain.ts start <manifest>`; every embedder
-- process then also embeds in the target space (a consumer group of its own, from the start of
-- the image log), and the read API answers each tenant from the target space once every live
-- image of that tenant has a vector there.
create schema if not exists embedding_space;

create table if not exists embedding_space.moves (
  -- One row at most: a second move waits until the first is finished.
  singleton boolean primary key default true check (singleton),
  -- `modelId@modelVersion` of the space moved to.
  target_space text not null,
  -- The target's manifest, as the embedder and the read API load it (a path both can read).
  manifest_path text not null,
  requested_at timestamptz not null default now()
);
