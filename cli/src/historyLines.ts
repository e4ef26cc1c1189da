import type { ImageHistoryEvent } from '@deeplens/client/clientTypes';

/** A before or after value: a status, a tag list or an attribute map (`∅` when unknown). */
function list(value: string | string[] | Record<string, string> | null | undefined): string {
  if (value === null || value === undefined) return '∅';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.join(', ')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}}`;
}

/** What an event changed, as `field before → after; …` (empty when it changed nothing). */
function describeChanges(event: ImageHistoryEvent): string {
  return Object.entries(event.changes)
    .map(([field, change]) => `${field} ${list(change.before)} → ${list(change.after)}`)
    .join('; ');
}

function describeDetails(event: ImageHistoryEvent): string {
  const d = event.details;
  switch (event.type) {
    case 'ImageUploaded':
      return `${String(d['filename'])} (${String(d['mime'])}, ${String(d['width'])}×${String(d['height'])}, via ${String(d['source'])})`;
    case 'ImageEmbedded':
      return `model ${String(d['model'])}, ${String(d['dim'])} dimensions`;
    case 'ImageEmbeddingFailed':
      return `model ${String(d['model'])}: ${String(d['reason'])}${d['retriable'] === true ? ' (retriable)' : ''}`;
    case 'ThumbnailGenerated':
      return `${String(d['width'])}×${String(d['height'])} ${String(d['mime'])}`;
    default:
      return '';
  }
}

/** An image's history for the terminal: one line per event, in log order. */
export function formatHistory(events: readonly ImageHistoryEvent[]): string[] {
  return events.map((event) => {
    const actor = event.actor.id === null ? event.actor.kind : `${event.actor.kind}:${event.actor.id}`;
    const said = [describeDetails(event), describeChanges(event)].filter((part) => part !== '').join('; ');
    return `v${event.version}  ${event.occurredAt}  ${event.type.padEnd(20)}  ${actor}${said === '' ? '' : `  ${said}`}`;
  });
}
