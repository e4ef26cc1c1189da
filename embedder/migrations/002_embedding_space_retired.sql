-- Retired embedding spaces (issue 15): recorded by `embeddingSpaceMoveMain.ts retire` in the
-- transaction that appends `EmbeddingSpaceRetired` to the outbox. The log is the truth for the
-- read models (the vector projection folds the event into `vector_status.retired_spaces`); this
-- row is the write side's: it makes a second `retire` a no-op, refuses a move back to a retired
-- space, and tells the embedder not to embed in it.
create table if not exists embedding_space.retired (
  -- `modelId@modelVersion`.
  space text primary key,
  model_id text not null,
  model_version text not null,
  replaced_by text not null,
  retired_at timestamptz not null default now()
);
