import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { confinedPath, pathObjectStore, preparePathStorage, storageMarker } from './pathObjectStore.ts';

/** A root with a prepared tenant folder `tenant`, and a folder outside the root. */
async function setUp(t: { after: (fn: () => Promise<void>) => void }) {
  const root = await mkdtemp(join(tmpdir(), 'path-store-root-'));
  const outside = await mkdtemp(join(tmpdir(), 'path-store-outside-'));
  t.after(async () => {
    while (await run('umount', [join(root, 'nfs')]));
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });
  await mkdir(join(root, 'tenant'));
  await preparePathStorage(root, 'tenant');
  return { root, outside, store: pathObjectStore({ root, path: 'tenant' }) };
}

describe('path store: confined under its root, 503 when its mount is not there', () => {
  it('refuses paths that leave the root by "..", by an absolute path, or that are not there', async (t) => {
    const { root, outside } = await setUp(t);
    assert.throws(() => confinedPath(root, '../x'), { code: 'validation_failed' });
    assert.throws(() => confinedPath(root, 'a/../../x'), { code: 'validation_failed' });
    assert.throws(() => confinedPath(root, outside), { code: 'validation_failed' });
    assert.equal(confinedPath(root, join(root, 'tenant')), join(root, 'tenant'));
    await symlink(outside, join(root, 'leads-out'));
    await assert.rejects(preparePathStorage(root, 'leads-out'), { code: 'validation_failed' });
    await assert.rejects(preparePathStorage(root, 'not-there'), { code: 'validation_failed' });
    assert.deepEqual(await readdir(outside), [], 'no marker written outside');
  });

  it('a symlink planted inside the folder that leads out is refused, never followed', async (t) => {
    const { root, outside, store } = await setUp(t);
    await store.ensureBucket('bucket-a');
    await store.put('bucket-a', 'images/aa/one', Buffer.from('one'), 'image/jpeg');
    // Someone with access to the share swaps a folder for a link out of it.
    await rm(join(root, 'tenant', 'bucket-a', 'images'), { recursive: true });
    await symlink(outside, join(root, 'tenant', 'bucket-a', 'images'));
    await assert.rejects(store.put('bucket-a', 'images/aa/two', Buffer.from('two'), 'image/jpeg'), {
      code: 'storage_error',
    });
    await writeFile(join(outside, 'secret'), 'not yours');
    await assert.rejects(store.get('bucket-a', 'images/secret'), { code: 'storage_error' });
    assert.deepEqual(await readdir(outside), ['secret'], 'nothing written outside the root');
    // And a file that is itself a link is not read through.
    await rm(join(root, 'tenant', 'bucket-a', 'images'));
    await mkdir(join(root, 'tenant', 'bucket-a', 'images'));
    await symlink(join(outside, 'secret'), join(root, 'tenant', 'bucket-a', 'images', 'link'));
    await assert.rejects(store.get('bucket-a', 'images/link'), { code: 'storage_error' });
  });

  it('a folder swapped for a symlink out of the root answers as outside, not as data', async (t) => {
    const { root, outside } = await setUp(t);
    const store = pathObjectStore({ root, path: 'tenant' });
    await store.ensureBucket('bucket-a');
    await rename(join(root, 'tenant'), join(root, 'tenant.old'));
    await writeFile(join(outside, storageMarker), 'forged');
    await symlink(outside, join(root, 'tenant'));
    await assert.rejects(store.put('bucket-a', 'k', Buffer.from('x'), 'text/plain'), {
      code: 'storage_error',
    });
    assert.deepEqual(await readdir(outside), [storageMarker]);
  });

  it('a missing mount (no marker) answers 503 storage_error, retriable; mounted again, the data reads', async (t) => {
    const { root, store } = await setUp(t);
    await store.put('bucket-a', 'k', Buffer.from('x'), 'text/plain');
    await rename(join(root, 'tenant'), join(root, 'tenant.away'));
    await mkdir(join(root, 'tenant'));
    await assert.rejects(store.put('bucket-a', 'k2', Buffer.from('y'), 'text/plain'), {
      code: 'storage_error',
      status: 503,
      retriable: true,
    });
    await assert.rejects(store.get('bucket-a', 'k'), { code: 'storage_error', status: 503 });
    assert.deepEqual(await readdir(join(root, 'tenant')), [], 'nothing written on the mount point');
    await rm(join(root, 'tenant'), { recursive: true });
    await rename(join(root, 'tenant.away'), join(root, 'tenant'));
    assert.equal(await text(await store.get('bucket-a', 'k')), 'x');
  });

  it('a real mount: unmounted or swapped for another answers 503; a full disk refuses the write, keeps no temp file', async (t) => {
    const { root } = await setUp(t);
    const point = join(root, 'nfs');
    await mkdir(point);
    // Mounting needs privileges (root in a container that allows it); elsewhere this is skipped.
    const mount = (options: string) => run('mount', ['-t', 'tmpfs', '-o', options, 'deeplens-test', point]);
    if (!(await mount('size=256k'))) return t.skip('cannot mount a tmpfs here');
    await preparePathStorage(root, 'nfs');
    const store = pathObjectStore({ root, path: 'nfs' });
    await store.put('bucket-a', 'k', Buffer.from('x'), 'text/plain');

    assert.ok(await run('umount', [point]));
    await assert.rejects(store.put('bucket-a', 'k2', Buffer.from('y'), 'text/plain'), {
      code: 'storage_error',
      status: 503,
    });
    assert.deepEqual(await readdir(point), [], 'nothing written on the bare mount point');

    // Another filesystem mounted there, even carrying a marker: not the storage it was.
    assert.ok(await mount('size=256k'));
    await writeFile(join(point, storageMarker), 'copied');
    await assert.rejects(store.get('bucket-a', 'k'), { code: 'storage_error', status: 503 });
    assert.ok(await run('umount', [point]));

    // A fresh store on a full disk: the write fails, nothing half-written stays, 503.
    assert.ok(await mount('size=64k'));
    await preparePathStorage(root, 'nfs');
    const full = pathObjectStore({ root, path: 'nfs' });
    await assert.rejects(
      full.put('bucket-a', 'big', Buffer.alloc(256 * 1024, 1), 'application/octet-stream'),
      {
        code: 'storage_error',
        status: 503,
      },
    );
    assert.equal(await full.stat('bucket-a', 'big'), undefined);
    const left = await readdir(join(point, 'bucket-a'));
    assert.ok(
      left.every((name) => !name.endsWith('.tmp') && name !== 'big'),
      left.join(),
    );
    assert.ok(await run('umount', [point]));
  });
});

function run(command: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(command, args, (error) => resolve(!error));
  });
}
