/**
 * The compose files, checked without a Docker engine: they parse as YAML (merge keys and all),
 * every image is pinned (the services `npm run stack` also runs at the same versions), every
 * published port binds 127.0.0.1 exactly as docs/scale-out.md's table says, every worker has
 * replicas, every file a service mounts exists, the DeepLens environment names only real
 * configuration variables, and the Grafana dashboard names only metrics that exist.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { configSchema } from '@deeplens/platform/config';
import { versions } from './stackContext.ts';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

type Service = {
  image?: string;
  command?: string[] | string;
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string | number>;
  deploy?: { replicas?: string | number };
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

function load(path: string): Compose {
  // `merge: true`: the `<<` keys the files use to share the DeepLens settings.
  return parse(read(path), { merge: true, strict: true, uniqueKeys: true }) as Compose;
}

const compose = load('docker-compose.yml');
const cluster = load('deploy/compose.qdrant-cluster.yml');
const deeplens = [
  'write-api',
  'read-api',
  'outbox-relay',
  'intake',
  'tenant-eraser',
  'embedder',
  'projectors',
];

/** `${NAME:-default}` → default; a plain value as it is. */
function defaultOf(value: string | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /^\$\{[A-Z_]+:-([^}]*)\}$/.exec(String(value));
  return match ? match[1] : String(value);
}

/** docs/scale-out.md's table of published ports: service → binding, or undefined for "not published". */
function documentedBindings(): Map<string, string | undefined> {
  const doc = read('docs/scale-out.md');
  const table = doc.slice(doc.indexOf('| compose service'));
  const out = new Map<string, string | undefined>();
  for (const line of table.split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [service, binding] = line
      .split('|')
      .slice(1, 3)
      .map((cell) => cell.trim());
    out.set(
      service!.replaceAll('`', ''),
      binding === 'not published' ? undefined : binding!.replaceAll('`', ''),
    );
  }
  return out;
}

describe('docker-compose.yml', () => {
  it('pins every image to a version, the stack services at the versions `npm run stack` runs', () => {
    const images = new Map<string, string>();
    for (const [name, service] of [
      ...Object.entries(compose.services),
      ...Object.entries(cluster.services),
    ]) {
      const image = service.image;
      assert.ok(image, `${name} has an image`);
      if (image === 'deeplens:local') continue; // built from this repository's Dockerfile
      const tag = /^[^:]+:(.+)$/.exec(image)?.[1];
      assert.ok(tag && tag !== 'latest', `${name}: ${image} is pinned`);
      images.set(name, image);
    }
    assert.equal(images.get('kafka'), `apache/kafka:${versions.kafka}`);
    assert.equal(images.get('registry-topics'), `apache/kafka:${versions.kafka}`);
    assert.equal(images.get('schema-registry'), `apicurio/apicurio-registry:${versions.apicurio}`);
    assert.equal(images.get('postgres'), `postgres:${versions.postgres}`);
    assert.equal(images.get('qdrant'), `qdrant/qdrant:v${versions.qdrant}`);
    assert.equal(images.get('object-store'), `andrewgaul/s3proxy:s3proxy-${versions.s3proxy}`);
    assert.ok(!images.has('minio'), 'no MinIO: its community images are no longer published');
    for (const name of ['loki', 'grafana', 'alloy'])
      assert.match(images.get(name) ?? '', /:v?\d+\.\d+\.\d+$/, `${name} at an exact version`);
  });

  it('publishes only on 127.0.0.1, exactly the ports docs/scale-out.md lists', () => {
    const documented = documentedBindings();
    assert.ok(documented.size >= 6, 'the table was found');
    for (const [name, service] of Object.entries(compose.services)) {
      const published = (service.ports ?? []).map((port) => {
        const [host, hostPort, containerPort] = port.split(':');
        assert.equal(host, '127.0.0.1', `${name} publishes ${port} on loopback only`);
        assert.ok(containerPort, `${name}: ${port} names the container port`);
        return `${host}:${hostPort}`;
      });
      const expected = documented.has(name) ? documented.get(name) : documented.get('every other');
      assert.deepEqual(published, expected === undefined ? [] : [expected], `${name} binds as documented`);
    }
    for (const [name, service] of Object.entries(cluster.services))
      assert.equal(service.ports, undefined, `${name} (cluster variant) publishes nothing`);
  });

  it('runs every DeepLens process as replicas, with the settings they must share', () => {
    for (const name of deeplens) {
      const service = compose.services[name];
      assert.ok(service, `${name} is a service`);
      assert.equal(service.image, 'deeplens:local');
      assert.ok(
        Number(defaultOf(service.deploy?.replicas)) >= 2,
        `${name} runs 2 or more replicas by default`,
      );
      const env = service.environment ?? {};
      for (const key of Object.keys(env)) {
        if (key.startsWith('OTEL_') && key !== 'OTEL_ENABLED') continue; // the SDK's own variables
        assert.ok(key in configSchema.shape, `${name}: ${key} is a configuration variable`);
      }
      // One key for every replica, or tokens signed by one do not verify on another.
      for (const key of ['SECRETS_KEY', 'JWT_PRIVATE_KEY', 'DATA_KEY_MASTER_KEY'])
        assert.match(String(env[key]), /^\$\{[A-Z_]+:\?/, `${name}: ${key} is required`);
      assert.equal(defaultOf(env.QDRANT_REPLICATION_FACTOR), '1');
      assert.equal(defaultOf(env.QDRANT_SHARDS), '1');
      assert.match(String(env.S3_ENDPOINT), /^http:\/\/object-store:/);
    }
  });

  it('mounts only files that exist, and declares every named volume', () => {
    for (const [name, service] of [
      ...Object.entries(compose.services),
      ...Object.entries(cluster.services),
    ]) {
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':');
        if (source!.startsWith('./')) assert.ok(existsSync(join(root, source!)), `${name} mounts ${source}`);
        else if (!source!.startsWith('/'))
          assert.ok(
            source! in (compose.volumes ?? {}) || source! in (cluster.volumes ?? {}),
            `${name}: volume ${source} is declared`,
          );
      }
    }
  });

  it('the three-node Qdrant variant: node 1 starts the consensus, the others join it', () => {
    const nodes = ['qdrant', 'qdrant-2', 'qdrant-3'].map((name) => cluster.services[name]);
    nodes.forEach((node, i) => {
      assert.ok(node, `qdrant node ${i + 1}`);
      assert.equal(node.environment?.QDRANT__CLUSTER__ENABLED, 'true');
      const command = node.command as string[];
      assert.deepEqual(command.slice(-2), ['--uri', `http://${i === 0 ? 'qdrant' : `qdrant-${i + 1}`}:6335`]);
      if (i === 0) assert.ok(!command.includes('--bootstrap'));
      else assert.equal(command[command.indexOf('--bootstrap') + 1], 'http://qdrant:6335');
    });
  });
});

describe('the Grafana dashboard and Prometheus', () => {
  const metrics = new Set(
    [...read('platform/src/metrics.ts').matchAll(/name: '(deeplens_[a-z_]+)'/g)].map((m) => m[1]!),
  );
  const dashboard = JSON.parse(read('deploy/grafana/dashboards/deeplens.json')) as {
    panels: { title: string; targets: { expr: string; datasource: { uid: string } }[] }[];
  };

  it('names only metrics platform/src/metrics.ts defines', () => {
    assert.ok(metrics.has('deeplens_consumer_lag'), 'the metric names were read');
    const used = new Set<string>();
    for (const panel of dashboard.panels)
      for (const target of panel.targets)
        if (target.datasource.uid === 'prometheus')
          for (const [name] of target.expr.matchAll(/deeplens_[a-z_]+/g)) used.add(name);
    for (const name of used)
      assert.ok(
        metrics.has(name) || metrics.has(name.replace(/_(bucket|count|sum)$/, '')),
        `${name} is a metric DeepLens exports`,
      );
    for (const wanted of [
      'deeplens_events_published_total',
      'deeplens_consumer_lag',
      'deeplens_search_latency_seconds_bucket',
      'deeplens_dead_letters_total',
    ])
      assert.ok(used.has(wanted), `the dashboard shows ${wanted}`);
  });

  it('scrapes every DeepLens service, every replica (DNS discovery)', () => {
    const prometheus = parse(read('deploy/prometheus.yml')) as {
      scrape_configs: { dns_sd_configs?: { names: string[]; type: string; port: number }[] }[];
    };
    const scraped = prometheus.scrape_configs.flatMap((job) =>
      (job.dns_sd_configs ?? []).flatMap((sd) => {
        assert.equal(sd.type, 'A');
        assert.equal(sd.port, 9464);
        return sd.names;
      }),
    );
    assert.deepEqual([...scraped].sort(), [...deeplens].sort());
    for (const name of deeplens)
      assert.equal(
        compose.services[name]!.environment?.METRICS_PORT,
        '9464',
        `${name} serves /metrics on 9464`,
      );
  });

  it('the Dockerfile copies every workspace’s package.json before npm ci (else npm ci refuses the lock)', () => {
    const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
    const dockerfile = read('Dockerfile');
    const install = dockerfile.indexOf('RUN npm ci');
    assert.ok(install > 0, 'the Dockerfile runs npm ci');
    for (const workspace of workspaces)
      assert.ok(
        dockerfile.slice(0, install).includes(`COPY ${workspace}/package.json ${workspace}/`),
        `the Dockerfile copies ${workspace}/package.json before npm ci`,
      );
  });
});
