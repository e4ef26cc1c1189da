import { useEffect, useState } from 'preact/hooks';
import type { SearchHit, SearchResult } from '@deeplens/client/clientTypes';
import { api, describeError, isUnauthorized } from '../api.ts';
import { CommitInput, DropZone, Thumbnail, useFileDrop } from './common.tsx';

/** A hit as the read API may send it: `verified` where geometric verification ran. */
type Hit = SearchHit & { verified?: boolean };

/** Search by an image dropped, pasted or picked: a grid of look-alikes with their scores. */
export function SearchScreen({ onUnauthorized }: { onUnauthorized: () => void }) {
  const [query, setQuery] = useState<{ file: File; preview: string }>();
  const [k, setK] = useState(12);
  const [threshold, setThreshold] = useState(0);
  const [tag, setTag] = useState('');
  const [result, setResult] = useState<{ hits: Hit[]; model: SearchResult['model']; ms: number }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  function pick(files: File[]) {
    const file = files.find((f) => f.type.startsWith('image/') || f.type === '') ?? files[0];
    if (!file) return;
    setQuery((old) => {
      if (old) URL.revokeObjectURL(old.preview);
      return { file, preview: URL.createObjectURL(file) };
    });
  }
  const { onPaste } = useFileDrop(pick);
  useEffect(() => {
    document.addEventListener('paste', onPaste);
    return () => document.removeEventListener('paste', onPaste);
  }, [onPaste]);

  useEffect(() => {
    if (!query) return;
    let current = true;
    setBusy(true);
    setError(undefined);
    const started = performance.now();
    void query.file
      .arrayBuffer()
      .then((bytes) =>
        api.searchByImage(new Uint8Array(bytes), {
          k,
          ...(threshold > 0 ? { threshold } : {}),
          ...(tag.trim() ? { filter: { tags: [tag.trim()] } } : {}),
          filename: query.file.name || 'query',
          type: query.file.type || 'application/octet-stream',
        }),
      )
      .then((answer) => {
        if (current)
          setResult({ hits: answer.hits, model: answer.model, ms: Math.round(performance.now() - started) });
      })
      .catch((e: unknown) => {
        if (isUnauthorized(e)) onUnauthorized();
        else if (current) setError(describeError(e));
      })
      .finally(() => current && setBusy(false));
    return () => {
      current = false;
    };
  }, [query, k, threshold, tag, onUnauthorized]);

  return (
    <section aria-labelledby="search-title">
      <h1 id="search-title">Search by image</h1>
      <div class="search-top">
        <DropZone
          label="Drop an image here"
          hint="…or paste one (Ctrl+V), or choose a file. It is compared, not stored."
          onFiles={pick}
        >
          {query && <img class="query-preview" src={query.preview} alt="The image searched for" />}
        </DropZone>
        <fieldset class="filters">
          <legend>Options</legend>
          <label for="k">Results (k)</label>
          <CommitInput
            id="k"
            type="number"
            min={1}
            max={100}
            value={String(k)}
            onCommit={(text) => setK(Math.min(100, Math.max(1, Math.round(Number(text)) || 12)))}
          />
          <label for="threshold">Minimum score</label>
          <CommitInput
            id="threshold"
            type="number"
            min={0}
            max={1}
            step={0.05}
            value={String(threshold)}
            onCommit={(text) => setThreshold(Math.min(1, Math.max(0, Number(text) || 0)))}
          />
          <label for="tag-filter">Only with tag</label>
          <CommitInput id="tag-filter" value={tag} onCommit={(text) => setTag(text.trim())} />
        </fieldset>
      </div>
      <div aria-live="polite" class="status-line">
        {busy && <p>Searching…</p>}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {result && !busy && (
          <p class="muted">
            {result.hits.length === 0
              ? 'No image of yours looks like this one.'
              : `${result.hits.length} look-alike${result.hits.length === 1 ? '' : 's'} in ${result.ms} ms`}{' '}
            · model {result.model.modelId}@{result.model.modelVersion}
          </p>
        )}
      </div>
      {result && result.hits.length > 0 && (
        <ol class="grid hits" aria-label="Search results">
          {result.hits.map((hit, rank) => (
            <li key={hit.imageId} class="tile" data-testid="hit">
              <a
                href={`/images/${hit.imageId}`}
                aria-label={`${rank + 1}. ${hit.filename}, score ${hit.score.toFixed(3)}`}
              >
                <Thumbnail url={hit.thumbnailUrl} alt={hit.filename} />
                <span class="name">{hit.filename}</span>
                <span class="meta">
                  <span class="score">{hit.score.toFixed(3)}</span>
                  {hit.rankedBy === 'perceptual-hash' && <span class="badge copy">edited copy</span>}
                  {hit.verified === true && <span class="badge verified">verified</span>}
                </span>
              </a>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
