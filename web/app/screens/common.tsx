import { useCallback, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import type { ImageStatus } from '@deeplens/client/clientTypes';
import { viaGateway } from '../api.ts';

/** A thumbnail through the gateway (cookie auth), or a placeholder until there is one. */
export function Thumbnail({ url, alt }: { url: string | null; alt: string }) {
  if (!url) return <div class="thumb placeholder" role="img" aria-label={`${alt} (no thumbnail yet)`} />;
  return <img class="thumb" src={viaGateway('read', url)} alt={alt} loading="lazy" decoding="async" />;
}

const statusWords: Record<ImageStatus, string> = {
  uploaded: 'uploaded',
  embedded: 'embedded',
  indexed: 'indexed',
  failed: 'failed',
};

export function StatusBadge({ status, reason }: { status: ImageStatus; reason?: string | undefined }) {
  return (
    <span class={`badge status-${status}`} title={reason}>
      {statusWords[status]}
      {reason ? `: ${reason}` : ''}
    </span>
  );
}

/** Files dropped (folders too, recursively), pasted or picked. */
export function useFileDrop(onFiles: (files: File[]) => void) {
  const [over, setOver] = useState(false);
  const depth = useRef(0);
  const handlers = {
    onDragEnter: (event: DragEvent) => {
      event.preventDefault();
      depth.current++;
      setOver(true);
    },
    onDragOver: (event: DragEvent) => event.preventDefault(),
    onDragLeave: () => {
      depth.current = Math.max(0, depth.current - 1);
      if (depth.current === 0) setOver(false);
    },
    onDrop: (event: DragEvent) => {
      event.preventDefault();
      depth.current = 0;
      setOver(false);
      void filesOf(event.dataTransfer).then((files) => files.length > 0 && onFiles(files));
    },
  };
  const onPaste = useCallback(
    (event: ClipboardEvent) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (files.length > 0) {
        event.preventDefault();
        onFiles(files);
      }
    },
    [onFiles],
  );
  return { over, handlers, onPaste };
}

async function filesOf(transfer: DataTransfer | null): Promise<File[]> {
  if (!transfer) return [];
  const entries = [...transfer.items]
    .map((item) => (item.kind === 'file' ? item.webkitGetAsEntry?.() : null))
    .filter((entry): entry is FileSystemEntry => !!entry);
  // Without entries (a synthetic drop), the plain file list.
  if (entries.length === 0) return [...transfer.files];
  const files: File[] = [];
  for (const entry of entries) await collect(entry, files);
  return files;
}

async function collect(entry: FileSystemEntry, out: File[]): Promise<void> {
  if (entry.isFile) {
    out.push(await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail)));
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) break;
    for (const child of batch) await collect(child, out);
  }
}

export function DropZone({
  label,
  hint,
  onFiles,
  multiple,
  folder,
  children,
}: {
  label: string;
  hint: string;
  onFiles: (files: File[]) => void;
  multiple?: boolean;
  folder?: boolean;
  children?: ComponentChildren;
}) {
  const { over, handlers } = useFileDrop(onFiles);
  const input = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  return (
    <div class={over ? 'dropzone over' : 'dropzone'} data-testid="dropzone" {...handlers}>
      <p class="drop-label">{label}</p>
      <p class="hint">{hint}</p>
      <div class="row">
        <label class="button" for="file-picker">
          {multiple ? 'Choose files' : 'Choose an image'}
        </label>
        <input
          ref={input}
          id="file-picker"
          class="visually-hidden"
          type="file"
          accept="image/*"
          multiple={multiple}
          onChange={(e) => {
            const files = [...(e.currentTarget.files ?? [])];
            e.currentTarget.value = '';
            if (files.length > 0) onFiles(files);
          }}
        />
        {folder && (
          <>
            <label class="button secondary" for="folder-picker">
              Choose a folder
            </label>
            <input
              ref={folderInput}
              id="folder-picker"
              class="visually-hidden"
              type="file"
              multiple
              {...{ webkitdirectory: true }}
              onChange={(e) => {
                const files = [...(e.currentTarget.files ?? [])];
                e.currentTarget.value = '';
                if (files.length > 0) onFiles(files);
              }}
            />
          </>
        )}
      </div>
      {children}
    </div>
  );
}

/**
 * An input whose value counts once committed (Enter, or leaving the field): what is typed is
 * kept as it is meanwhile, so a re-render while a search runs never undoes a keystroke.
 */
export function CommitInput({
  id,
  value,
  onCommit,
  type = 'text',
  min,
  max,
  step,
}: {
  id: string;
  value: string;
  onCommit: (text: string) => void;
  type?: 'text' | 'number';
  min?: number;
  max?: number;
  step?: number;
}) {
  const [draft, setDraft] = useState(value);
  const [committed, setCommitted] = useState(value);
  if (committed !== value) {
    // The committed value changed (normalised by the parent): show it.
    setCommitted(value);
    setDraft(value);
  }
  const common = {
    id,
    value: draft,
    onInput: (e: { currentTarget: HTMLInputElement }) => setDraft(e.currentTarget.value),
    onChange: (e: { currentTarget: HTMLInputElement }) => onCommit(e.currentTarget.value),
  };
  return type === 'number' ? (
    <input type="number" min={min} max={max} step={step} {...common} />
  ) : (
    <input type="text" {...common} />
  );
}
