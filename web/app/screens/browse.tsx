import { useEffect, useRef, useState } from 'preact/hooks';
import type { Image, ImageStatus } from '@deeplens/client/clientTypes';
import { api, describeError, isUnauthorized } from '../api.ts';
import { navigate } from '../router.ts';
import { StatusBadge, Thumbnail } from './common.tsx';

const pageSize = 30;

/** The tenant's images, newest first, filtered by status and tag, loaded page by page on scroll. */
export function BrowseScreen({
  onUnauthorized,
  tag: initialTag,
}: {
  onUnauthorized: () => void;
  tag: string;
}) {
  const [status, setStatus] = useState<ImageStatus | ''>('');
  const [tag, setTag] = useState(initialTag);
  const [tagInput, setTagInput] = useState(initialTag);
  const [items, setItems] = useState<Image[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  const sentinel = useRef<HTMLDivElement>(null);
  const generation = useRef(0);

  function fail(e: unknown) {
    if (isUnauthorized(e)) onUnauthorized();
    else setError(describeError(e));
  }

  async function loadPage(reset: boolean) {
    const mine = reset ? ++generation.current : generation.current;
    setLoading(true);
    setError(undefined);
    try {
      const page = await api.listImages({
        limit: pageSize,
        ...(status ? { status } : {}),
        ...(tag ? { tag } : {}),
        ...(!reset && cursor ? { cursor } : {}),
      });
      if (mine !== generation.current) return;
      setItems((old) => (reset ? page.items : [...old, ...page.items]));
      setCursor(page.nextCursor);
    } catch (e) {
      fail(e);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }

  useEffect(() => {
    setItems([]);
    setCursor(undefined);
    void loadPage(true);
  }, [status, tag]); // a new filter starts again from the first page

  // Infinite scroll: the next page when the end of the grid comes into view.
  useEffect(() => {
    const end = sentinel.current;
    if (!end || !cursor || loading) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadPage(false);
    });
    observer.observe(end);
    return () => observer.disconnect();
  });

  // Images still on their way (uploaded → embedded → indexed) are looked at again every 2 s.
  useEffect(() => {
    const pending = items.filter((i) => i.status === 'uploaded' || i.status === 'embedded').slice(0, 20);
    if (pending.length === 0) return;
    const timer = setTimeout(() => {
      void Promise.all(pending.map((i) => api.getImage(i.id).catch(() => i)))
        .then((fresh) => {
          const byId = new Map(fresh.map((i) => [i.id, i]));
          setItems((old) => old.map((i) => byId.get(i.id) ?? i));
        })
        .catch(fail);
    }, 2_000);
    return () => clearTimeout(timer);
  });

  return (
    <section aria-labelledby="browse-title">
      <h1 id="browse-title">Your images</h1>
      <form
        class="filters inline"
        onSubmit={(e) => {
          e.preventDefault();
          setTag(tagInput.trim());
          navigate(tagInput.trim() ? `/browse?tag=${encodeURIComponent(tagInput.trim())}` : '/browse', {
            replace: true,
          });
        }}
      >
        <label for="status">Status</label>
        <select
          id="status"
          value={status}
          onChange={(e) => setStatus(e.currentTarget.value as ImageStatus | '')}
        >
          <option value="">any</option>
          <option value="uploaded">uploaded</option>
          <option value="embedded">embedded</option>
          <option value="indexed">indexed</option>
          <option value="failed">failed</option>
        </select>
        <label for="tag">Tag</label>
        <input id="tag" type="text" value={tagInput} onInput={(e) => setTagInput(e.currentTarget.value)} />
        <button type="submit">Filter</button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!loading && items.length === 0 && !error && (
        <p class="empty">
          No images{tag || status ? ' match' : ' yet'}. <a href="/upload">Upload some</a>.
        </p>
      )}
      <ul class="grid" aria-label="Images">
        {items.map((image) => (
          <li key={image.id} class="tile" data-testid="image-tile" data-status={image.status}>
            <a href={`/images/${image.id}`}>
              <Thumbnail url={image.thumbnailUrl} alt={image.filename} />
              <span class="name">{image.filename}</span>
              <span class="meta">
                <StatusBadge status={image.status} reason={image.failure?.reason} />
              </span>
              {image.tags.length > 0 && <span class="tags">{image.tags.join(', ')}</span>}
            </a>
          </li>
        ))}
      </ul>
      <div ref={sentinel} class="sentinel" />
      <div aria-live="polite">
        {loading && <p class="muted">Loading…</p>}
        {cursor && !loading && (
          <button type="button" class="secondary" onClick={() => void loadPage(false)}>
            Load more
          </button>
        )}
      </div>
    </section>
  );
}
