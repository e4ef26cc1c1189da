import { useEffect, useState } from 'preact/hooks';
import type { Image, ImageHistoryEvent, SearchHit } from '@deeplens/client/clientTypes';
import { api, describeError, formatBytes, isUnauthorized, viaGateway } from '../api.ts';
import { navigate } from '../router.ts';
import { StatusBadge, Thumbnail } from './common.tsx';

const parseTags = (text: string) => [
  ...new Set(
    text
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  ),
];

const describeValue = (value: unknown): string => {
  if (value === null || value === undefined) return '—';
  if (Array.isArray(value)) return value.join(', ') || '(none)';
  if (typeof value === 'object')
    return (
      Object.entries(value as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '(none)'
    );
  return typeof value === 'string' ? value : JSON.stringify(value);
};

/** What one history entry changed, in words. */
function describeChanges(event: ImageHistoryEvent): string {
  const parts = Object.entries(event.changes).map(
    ([field, change]) => `${field}: ${describeValue(change.before)} → ${describeValue(change.after)}`,
  );
  return parts.join('; ') || '';
}

/** One image: the picture, its metadata, editable tags and attributes, look-alikes, history, delete. */
export function ImageScreen({ id, onUnauthorized }: { id: string; onUnauthorized: () => void }) {
  const [image, setImage] = useState<Image | null>();
  const [similar, setSimilar] = useState<SearchHit[]>();
  const [history, setHistory] = useState<ImageHistoryEvent[]>();
  const [historyVersion, setHistoryVersion] = useState(0);
  const [tags, setTags] = useState('');
  const [attributes, setAttributes] = useState('');
  const [message, setMessage] = useState<{ text: string; error?: boolean }>();
  const [saving, setSaving] = useState(false);
  const [confirming, setConfirming] = useState(false);

  function fail(e: unknown) {
    if (isUnauthorized(e)) onUnauthorized();
    else setMessage({ text: describeError(e), error: true });
  }

  useEffect(() => {
    api
      .getImage(id)
      .then((loaded) => {
        setImage(loaded);
        setTags(loaded.tags.join(', '));
        setAttributes(
          Object.entries(loaded.attributes)
            .map(([k, v]) => `${k}=${v}`)
            .join('\n'),
        );
      })
      .catch((e: unknown) => {
        if (isUnauthorized(e)) onUnauthorized();
        else setImage(null);
      });
  }, [id, onUnauthorized]);

  // Still on its way: look again every 2 s until indexed or failed.
  useEffect(() => {
    if (!image || image.status === 'indexed' || image.status === 'failed') return;
    const timer = setTimeout(() => {
      api
        .getImage(id)
        .then((fresh) =>
          setImage((old) => (old ? { ...fresh, tags: old.tags, attributes: old.attributes } : fresh)),
        )
        .catch(fail);
    }, 2_000);
    return () => clearTimeout(timer);
  });

  const indexed = image?.status === 'indexed';
  useEffect(() => {
    if (!indexed) return;
    api
      .similar(id, { k: 9 })
      .then((answer) => setSimilar(answer.hits.filter((h) => h.imageId !== id).slice(0, 8)))
      .catch(fail);
  }, [id, indexed]);

  // The image's history from the log (the history projection); read again after each save.
  useEffect(() => {
    api
      .imageHistory(id, { limit: 100 })
      .then((page) => setHistory(page.items))
      .catch(fail);
  }, [id, historyVersion, image?.status]);

  async function save(event: Event) {
    event.preventDefault();
    const attributeMap: Record<string, string> = {};
    for (const line of attributes.split('\n')) {
      if (!line.trim()) continue;
      const at = line.indexOf('=');
      if (at <= 0) {
        setMessage({ text: `"${line}" is not key=value`, error: true });
        return;
      }
      attributeMap[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    setSaving(true);
    setMessage(undefined);
    try {
      const nextTags = parseTags(tags);
      await api.updateImage(
        id,
        { tags: nextTags, attributes: attributeMap },
        { idempotencyKey: crypto.randomUUID() },
      );
      setImage((old) => (old ? { ...old, tags: nextTags, attributes: attributeMap } : old));
      setTags(nextTags.join(', '));
      setMessage({ text: 'Saved.' });
      setTimeout(() => setHistoryVersion((v) => v + 1), 1_000);
    } catch (e) {
      fail(e);
    } finally {
      setSaving(false);
    }
  }

  async function remove() {
    try {
      await api.deleteImage(id, { idempotencyKey: crypto.randomUUID() });
      navigate('/browse');
    } catch (e) {
      fail(e);
    }
  }

  if (image === undefined) return <p class="muted">Loading…</p>;
  if (image === null)
    return (
      <section>
        <h1>No such image</h1>
        <p>
          It does not exist, or not in your tenant. <a href="/browse">Back to your images</a>.
        </p>
      </section>
    );

  return (
    <section aria-labelledby="image-title" class="image-page">
      <p>
        <a href="/browse">← All images</a>
      </p>
      <h1 id="image-title">{image.filename}</h1>
      <div class="image-layout">
        <figure class="original">
          <img src={viaGateway('read', image.contentUrl)} alt={image.filename} />
        </figure>
        <div>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={image.status} reason={image.failure?.reason} />
            </dd>
            <dt>Size</dt>
            <dd>
              {image.width} × {image.height} · {formatBytes(image.bytes)} · {image.mime}
            </dd>
            <dt>Uploaded</dt>
            <dd>{new Date(image.uploadedAt).toLocaleString()}</dd>
            <dt>SHA-256</dt>
            <dd class="mono">{image.sha256}</dd>
            <dt>Id</dt>
            <dd class="mono">{image.id}</dd>
          </dl>
          <form class="edit" onSubmit={(e) => void save(e)}>
            <label for="tags">Tags (comma-separated)</label>
            <input id="tags" type="text" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
            <label for="attributes">Attributes (one key=value a line)</label>
            <textarea
              id="attributes"
              rows={3}
              value={attributes}
              onInput={(e) => setAttributes(e.currentTarget.value)}
            />
            <div class="row">
              <button type="submit" disabled={saving}>
                {saving ? 'Saving…' : 'Save'}
              </button>
              {!confirming ? (
                <button type="button" class="danger" onClick={() => setConfirming(true)}>
                  Delete…
                </button>
              ) : (
                <span class="confirm" role="group" aria-label="Confirm deletion">
                  <span>Delete this image for good?</span>
                  <button type="button" class="danger" onClick={() => void remove()}>
                    Yes, delete
                  </button>
                  <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                    Cancel
                  </button>
                </span>
              )}
            </div>
            <div aria-live="polite">
              {message && (
                <p class={message.error ? 'error' : 'ok'} role={message.error ? 'alert' : 'status'}>
                  {message.text}
                </p>
              )}
            </div>
          </form>
        </div>
      </div>
      <h2>Looks like</h2>
      {!indexed && <p class="muted">Look-alikes appear once the image is indexed.</p>}
      {indexed && similar === undefined && <p class="muted">Loading…</p>}
      {similar && similar.length === 0 && <p class="muted">Nothing else of yours looks like it.</p>}
      {similar && similar.length > 0 && (
        <ol class="grid small" aria-label="Similar images">
          {similar.map((hit) => (
            <li key={hit.imageId} class="tile">
              <a href={`/images/${hit.imageId}`}>
                <Thumbnail url={hit.thumbnailUrl} alt={hit.filename} />
                <span class="name">{hit.filename}</span>
                <span class="meta">
                  <span class="score">{hit.score.toFixed(3)}</span>
                </span>
              </a>
            </li>
          ))}
        </ol>
      )}
      <h2>History</h2>
      {history === undefined && <p class="muted">Loading…</p>}
      {history && history.length === 0 && <p class="muted">Nothing recorded yet.</p>}
      {history && history.length > 0 && (
        <ol class="history" aria-label="History">
          {history.map((event) => (
            <li key={event.eventId}>
              <time dateTime={event.occurredAt}>{new Date(event.occurredAt).toLocaleString()}</time>{' '}
              <strong>{event.type}</strong>{' '}
              <span class="muted">
                by {event.actor.kind}
                {event.actor.id ? ` ${event.actor.id.slice(0, 8)}` : ''}
              </span>
              {describeChanges(event) && <span class="changes"> — {describeChanges(event)}</span>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
