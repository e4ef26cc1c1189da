import { useRef, useState } from 'preact/hooks';
import { csrfHeader, formatBytes } from '../api.ts';
import { DropZone } from './common.tsx';

type Item = {
  key: number;
  file: File;
  state: 'queued' | 'uploading' | 'accepted' | 'refused' | 'skipped';
  progress: number;
  imageId?: string;
  message?: string;
};

const concurrency = 2;

/** Uploads many files (a folder dropped in, too), each with its progress and the API's answer in words. */
export function UploadScreen({ onUnauthorized }: { onUnauthorized: () => void }) {
  const [items, setItems] = useState<Item[]>([]);
  const [tags, setTags] = useState('');
  const nextKey = useRef(0);
  const queue = useRef<Item[]>([]);
  const running = useRef(0);

  const update = (key: number, change: Partial<Item>) =>
    setItems((old) => old.map((i) => (i.key === key ? { ...i, ...change } : i)));

  function add(files: File[]) {
    const added = files.map((file): Item => {
      const image = file.type.startsWith('image/');
      return {
        key: nextKey.current++,
        file,
        state: image ? 'queued' : 'skipped',
        progress: 0,
        ...(image ? {} : { message: 'not an image file' }),
      };
    });
    setItems((old) => [...old, ...added]);
    queue.current.push(...added.filter((i) => i.state === 'queued'));
    pump();
  }

  function pump() {
    while (running.current < concurrency && queue.current.length > 0) {
      const item = queue.current.shift()!;
      running.current++;
      void send(item).finally(() => {
        running.current--;
        pump();
      });
    }
  }

  function send(item: Item): Promise<void> {
    const tagList = tags
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    return new Promise((done) => {
      const form = new FormData();
      form.append('file', item.file, item.file.name);
      if (tagList.length > 0) form.append('tags', JSON.stringify(tagList));
      // XMLHttpRequest, not fetch: only it reports upload progress.
      const request = new XMLHttpRequest();
      request.open('POST', '/api/write/v1/images');
      request.setRequestHeader(csrfHeader, '1');
      request.setRequestHeader('idempotency-key', crypto.randomUUID());
      update(item.key, { state: 'uploading' });
      request.upload.onprogress = (event) => {
        if (event.lengthComputable)
          update(item.key, { progress: Math.round((event.loaded / event.total) * 100) });
      };
      request.onload = () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(request.responseText) as Record<string, unknown>;
        } catch {
          // Not JSON: the status says enough.
        }
        if (request.status === 401) onUnauthorized();
        if (request.status >= 200 && request.status < 300) {
          const image = (body['images'] as { id: string }[] | undefined)?.[0];
          update(item.key, { state: 'accepted', progress: 100, ...(image ? { imageId: image.id } : {}) });
        } else {
          const detail = typeof body['detail'] === 'string' ? body['detail'] : request.statusText;
          update(item.key, { state: 'refused', message: `${detail} (${request.status})` });
        }
        done();
      };
      request.onerror = () => {
        update(item.key, { state: 'refused', message: 'the server could not be reached' });
        done();
      };
      request.send(form);
    });
  }

  const counts = {
    accepted: items.filter((i) => i.state === 'accepted').length,
    refused: items.filter((i) => i.state === 'refused').length,
    pending: items.filter((i) => i.state === 'queued' || i.state === 'uploading').length,
  };

  return (
    <section aria-labelledby="upload-title">
      <h1 id="upload-title">Upload images</h1>
      <div class="filters inline">
        <label for="upload-tags">Tags for these uploads (comma-separated)</label>
        <input id="upload-tags" type="text" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
      </div>
      <DropZone
        label="Drop images or a whole folder here"
        hint="JPEG, PNG, WebP… Each file is checked by the server; refusals are listed below."
        onFiles={add}
        multiple
        folder
      />
      {items.length > 0 && (
        <>
          <p aria-live="polite" class="status-line">
            {counts.accepted} accepted · {counts.refused} refused · {counts.pending} to go
            {counts.pending === 0 && counts.accepted > 0 && (
              <>
                {' '}
                — <a href="/browse">see them being indexed</a>
              </>
            )}
          </p>
          <ul class="uploads" aria-label="Uploads">
            {items.map((item) => (
              <li key={item.key} data-testid="upload-row" data-state={item.state}>
                <span class="name">{item.file.webkitRelativePath || item.file.name}</span>
                <span class="muted">{formatBytes(item.file.size)}</span>
                {item.state === 'uploading' || item.state === 'queued' ? (
                  <progress
                    max={100}
                    value={item.progress}
                    aria-label={`${item.file.name} upload progress`}
                  />
                ) : null}
                <span class={`upload-state ${item.state}`}>
                  {item.state === 'accepted' && item.imageId ? (
                    <a href={`/images/${item.imageId}`}>accepted</a>
                  ) : (
                    item.state
                  )}
                  {item.message ? `: ${item.message}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
