import { readFileSync } from 'node:fs';
type N = { id: number; callFrame: { functionName: string; url: string }; children?: number[] };
const p = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { nodes: N[]; samples: number[]; timeDeltas: number[] };
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000));
const targets = process.argv.slice(3);
const agg = new Map<string, number>();
let tot = 0;
for (const [id, t] of self) {
  const n = byId.get(id)!;
  if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
  tot += t;
  if (!targets.includes(n.callFrame.functionName)) continue;
  const chain: string[] = [];
  let cur: number | undefined = id;
  while (cur !== undefined && chain.length < 14) { const f = byId.get(cur)!.callFrame; chain.push(`${f.functionName}@${f.url.replace(/.*node_modules\//, '').replace(/.*work\/main\//, '')}`); cur = parent.get(cur); }
  const key = chain.slice(0, 14).join(' < ');
  agg.set(key, (agg.get(key) ?? 0) + t);
}
console.log('busy ms', tot.toFixed(0));
for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log((100 * v / tot).toFixed(1) + '%', k);
