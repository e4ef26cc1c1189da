import { useEffect, useState } from 'preact/hooks';
import type { DuplicateGroups } from '@deeplens/client/clientTypes';
import { api, describeError, isUnauthorized } from '../api.ts';
import { CommitInput, Thumbnail } from './common.tsx';

type Group = DuplicateGroups['groups'][number];

/** Groups of near-duplicates side by side; keep one of a group and delete the others. */
export function DuplicatesScreen({ onUnauthorized }: { onUnauthorized: () => void }) {
  const [threshold, setThreshold] = useState(0.9);
  const [groups, setGroups] = useState<Group[]>();
  const [message, setMessage] = useState<{ text: string; error?: boolean }>();
  const [busy, setBusy] = useState(false);

  function fail(e: unknown) {
    if (isUnauthorized(e)) onUnauthorized();
    else setMessage({ text: describeError(e), error: true });
  }

  useEffect(() => {
    let current = true;
    setGroups(undefined);
    api
      .duplicates({ threshold })
      .then((answer) => current && setGroups(answer.groups))
      .catch(fail);
    return () => {
      current = false;
    };
  }, [threshold]);

  async function keepOnly(group: Group, keep: string) {
    setBusy(true);
    setMessage(undefined);
    const extras = group.images.filter((i) => i.imageId !== keep);
    try {
      for (const image of extras)
        await api.deleteImage(image.imageId, { idempotencyKey: crypto.randomUUID() });
      setGroups((old) => old?.filter((g) => g !== group));
      setMessage({
        text: `Deleted ${extras.length} extra${extras.length === 1 ? '' : 's'}: ${extras.map((i) => i.filename).join(', ')}.`,
      });
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="duplicates-title">
      <h1 id="duplicates-title">Near-duplicates</h1>
      <div class="filters inline">
        <label for="dup-threshold">Minimum similarity</label>
        <CommitInput
          id="dup-threshold"
          type="number"
          min={0.5}
          max={1}
          step={0.01}
          value={String(threshold)}
          onCommit={(text) => setThreshold(Math.min(1, Math.max(0.5, Number(text) || 0.9)))}
        />
      </div>
      <div aria-live="polite">
        {message && (
          <p class={message.error ? 'error' : 'ok'} role={message.error ? 'alert' : 'status'}>
            {message.text}
          </p>
        )}
        {groups === undefined && !message?.error && <p class="muted">Looking for near-duplicates…</p>}
        {groups?.length === 0 && <p class="empty">No near-duplicates at this similarity.</p>}
      </div>
      {groups?.map((group, index) => (
        <div
          class="card duplicate-group"
          key={group.images.map((i) => i.imageId).join()}
          data-testid="duplicate-group"
        >
          <h2>
            Group {index + 1}: {group.images.length} images
          </h2>
          <ul class="grid small" aria-label={`Group ${index + 1}`}>
            {group.images.map((image) => (
              <li key={image.imageId} class="tile">
                <a href={`/images/${image.imageId}`}>
                  <Thumbnail url={`/v1/images/${image.imageId}/thumbnail`} alt={image.filename} />
                  <span class="name">{image.filename}</span>
                </a>
                <button
                  type="button"
                  class="secondary keep"
                  disabled={busy}
                  onClick={() => void keepOnly(group, image.imageId)}
                >
                  Keep only this one
                </button>
              </li>
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
