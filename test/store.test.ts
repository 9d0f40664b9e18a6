import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { openStore, StoreError, type Store } from '../src/store/index.ts';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tempStore(): Promise<{ store: Store; dir: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-store-'));
  const store = await openStore(dir);
  return { store, dir, done: () => rm(dir, { recursive: true, force: true }) };
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

const isStoreError = (code: StoreError['code']) => (e: unknown) => e instanceof StoreError && e.code === code;

test('put/has/stat/open/delete: strings, buffers and streams, ranges', async () => {
  const { store, dir, done } = await tempStore();
  try {
    const a = await store.put('hello');
    assert.deepEqual(a, { digest: sha('hello'), size: 5, created: true });
    assert.equal((await store.put(Buffer.from('hello'))).created, false);
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const b = await store.put(Readable.from([big.subarray(0, 1000), big.subarray(1000)]));
    assert.equal(b.digest, sha(big));
    assert.equal(b.size, big.length);
    assert.equal(await store.has(b.digest), true);
    assert.deepEqual(await store.stat(b.digest), { digest: b.digest, size: big.length });
    assert.equal(store.blobPath(a.digest), join(dir, 'blobs', 'sha256', a.digest.slice(7)));
    assert.equal((await readFile(store.blobPath(a.digest))).toString(), 'hello');
    assert.equal((await readAll((await store.open(a.digest))!)).toString(), 'hello');
    assert.equal((await readAll((await store.open(a.digest, { start: 1, end: 3 }))!)).toString(), 'ell');
    const empty = await store.put('');
    assert.equal(empty.digest, sha(''));
    assert.equal((await readAll((await store.open(empty.digest))!)).length, 0);
    const absent = sha('absent');
    assert.equal(await store.has(absent), false);
    assert.equal(await store.stat(absent), undefined);
    assert.equal(await store.open(absent), undefined);
    assert.equal(await store.delete(a.digest), true);
    assert.equal(await store.delete(a.digest), false);
    assert.equal(await store.has(a.digest), false);
    assert.deepEqual(await readdir(join(dir, 'tmp')), ['uploads']);
  } finally {
    await done();
  }
});

test('expectedDigest mismatch stores nothing and leaves no temp file', async () => {
  const { store, dir, done } = await tempStore();
  try {
    const wrong = sha('something else');
    await assert.rejects(store.put('payload', { expectedDigest: wrong }), isStoreError('digest-mismatch'));
    await assert.rejects(store.put(Readable.from([Buffer.from('payload')]), { expectedDigest: wrong }), isStoreError('digest-mismatch'));
    assert.equal(await store.has(sha('payload')), false);
    assert.equal(await store.has(wrong), false);
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), []);
    assert.deepEqual(await readdir(join(dir, 'tmp')), ['uploads']);
    const ok = await store.put('payload', { expectedDigest: sha('payload') });
    assert.equal(ok.created, true);
    await assert.rejects(store.put('x', { expectedDigest: 'md5:abc' }), isStoreError('invalid-digest'));
  } finally {
    await done();
  }
});

test('malformed digests never map to a path', async () => {
  const { store, done } = await tempStore();
  try {
    const bad = [
      '',
      'sha256:',
      '../../etc/passwd',
      'sha256:../../../../etc/passwd',
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'a'.repeat(63)}`,
      `sha256:${'a'.repeat(65)}`,
      `sha256:${'a'.repeat(63)}/`,
      `sha512:${'a'.repeat(128)}`,
      `sha256:${'a'.repeat(64)}\0`,
      `/sha256:${'a'.repeat(64)}`,
    ];
    for (const d of bad) {
      assert.throws(() => store.blobPath(d), isStoreError('invalid-digest'), JSON.stringify(d));
      await assert.rejects(store.has(d), isStoreError('invalid-digest'));
      await assert.rejects(store.open(d), isStoreError('invalid-digest'));
      await assert.rejects(store.delete(d), isStoreError('invalid-digest'));
    }
  } finally {
    await done();
  }
});

test('the same blob put 20x concurrently: all succeed, one blob, one creation', async () => {
  const { store, dir, done } = await tempStore();
  try {
    const data = Buffer.alloc(2 * 1024 * 1024, 0xab);
    const chunked = () => Readable.from(Array.from({ length: 32 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536)));
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(i % 2 ? chunked() : data)));
    assert.ok(results.every((r) => r.digest === sha(data) && r.size === data.length));
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [sha(data).slice(7)]);
    assert.deepEqual(await readdir(join(dir, 'tmp')), ['uploads']);
    assert.deepEqual(await store.verify(), { ok: 1, corrupt: [], removedTemp: 0 });
  } finally {
    await done();
  }
});

test('verify finds a flipped byte and reports progress', async () => {
  const { store, done } = await tempStore();
  try {
    const a = await store.put('aaaa');
    const b = await store.put(Buffer.alloc(100_000, 1));
    const path = store.blobPath(b.digest);
    const buf = await readFile(path);
    buf[50_000] = (buf[50_000] ?? 0) ^ 0x01;
    await writeFile(path, buf);
    const progress: [number, number][] = [];
    const r = await store.verify({ onProgress: (d, t) => progress.push([d, t]) });
    assert.deepEqual(r, { ok: 1, corrupt: [b.digest], removedTemp: 0 });
    assert.deepEqual(progress, [
      [1, 2],
      [2, 2],
    ]);
    assert.equal(await store.has(a.digest), true);
  } finally {
    await done();
  }
});

test('meta: atomic documents, listing, pruning, key validation', async () => {
  const { store, dir, done } = await tempStore();
  try {
    await store.writeMeta('apt', 'dists/bookworm/Release', 'r1');
    await store.writeMeta('apt', 'dists/bookworm/Release', Buffer.from('r2'));
    await store.writeMeta('apt', 'dists/bookworm/main/Packages', 'p');
    await store.writeMeta('apt', 'pool/a@b+c_1.0-2.deb', 'x');
    assert.equal((await store.readMeta('apt', 'dists/bookworm/Release'))?.toString(), 'r2');
    assert.equal(await store.readMeta('apt', 'dists/none'), undefined);
    assert.equal(await store.readMeta('other', 'dists/bookworm/Release'), undefined);
    assert.equal(await store.readMeta('apt', 'dists'), undefined, 'a folder is not a document');
    assert.deepEqual(await store.listMeta('apt'), ['dists/bookworm/Release', 'dists/bookworm/main/Packages', 'pool/a@b+c_1.0-2.deb']);
    assert.deepEqual(await store.listMeta('apt', 'dists/'), ['dists/bookworm/Release', 'dists/bookworm/main/Packages']);
    assert.deepEqual(await store.listMeta('apt', 'dists/bookworm/R'), ['dists/bookworm/Release']);
    assert.deepEqual(await store.listMeta('apt', 'po'), ['pool/a@b+c_1.0-2.deb']);
    assert.deepEqual(await store.listMeta('none'), []);
    assert.equal(await store.deleteMeta('apt', 'dists/bookworm/main/Packages'), true);
    assert.equal(await store.deleteMeta('apt', 'dists/bookworm/main/Packages'), false);
    await assert.rejects(stat(join(dir, 'meta', 'apt', 'dists', 'bookworm', 'main')), 'empty folders are pruned');
    // file/folder conflicts are key errors, not I/O errors
    await assert.rejects(store.writeMeta('apt', 'dists/bookworm/Release/x', 'y'), isStoreError('invalid-key'));
    await assert.rejects(store.writeMeta('apt', 'dists', 'y'), isStoreError('invalid-key'));
    const badKeys = ['', '..', '../x', 'a/../b', 'a/./b', '/abs', 'a//b', 'a/', 'a\0b', 'a b', 'a\\b', 'ä', 'a%2fb', 'x'.repeat(1025), `${'y'.repeat(256)}/z`];
    for (const k of badKeys) {
      await assert.rejects(store.writeMeta('apt', k, 'v'), isStoreError('invalid-key'), JSON.stringify(k));
      await assert.rejects(store.readMeta('apt', k), isStoreError('invalid-key'), JSON.stringify(k));
      await assert.rejects(store.deleteMeta('apt', k), isStoreError('invalid-key'), JSON.stringify(k));
    }
    for (const ns of ['', '..', 'a/b', 'A', '.x', 'a b']) {
      await assert.rejects(store.writeMeta(ns, 'k', 'v'), isStoreError('invalid-key'), JSON.stringify(ns));
      await assert.rejects(store.listMeta(ns), isStoreError('invalid-key'));
    }
    await assert.rejects(store.listMeta('apt', '../'), isStoreError('invalid-key'));
    // concurrent writers of one key: the document is always one whole version
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.writeMeta('apt', 'race', `v${i}`.repeat(1000))));
    assert.match((await store.readMeta('apt', 'race'))!.toString(), /^(v\d+)\1{999}$/);
    assert.deepEqual(await readdir(join(dir, 'tmp')), ['uploads']);
  } finally {
    await done();
  }
});

test('verify removes temp files of dead writers and stale upload sessions', async () => {
  const { store, dir, done } = await tempStore();
  try {
    await store.put('keep');
    // a pid that cannot be alive (above pid_max)
    await writeFile(join(dir, 'tmp', 'put-4194304999-0123abcd'), 'partial');
    await writeFile(join(dir, 'tmp', 'meta-4194304999-0123abce'), 'partial');
    await mkdir(join(dir, 'tmp', 'uploads', '00000000-0000-4000-8000-000000000000'));
    await writeFile(join(dir, 'tmp', 'uploads', '00000000-0000-4000-8000-000000000000', 'data'), 'x');
    assert.deepEqual(await store.verify(), { ok: 1, corrupt: [], removedTemp: 2 });
    assert.deepEqual((await readdir(join(dir, 'tmp'))).sort(), ['uploads']);
    assert.equal((await readdir(join(dir, 'tmp', 'uploads'))).length, 1, 'a fresh upload session stays (resumable)');
    assert.deepEqual(await store.verify({ uploadMaxIdleMs: -1 }), { ok: 1, corrupt: [], removedTemp: 1 });
  } finally {
    await done();
  }
});

test('a writer SIGKILLed mid-put leaves no visible blob, and verify is clean', async () => {
  const { dir, done } = await tempStore();
  try {
    const storeUrl = pathToFileURL(join(import.meta.dirname, '..', 'src', 'store', 'index.ts')).href;
    // The child streams an endless (bounded: 4 GiB) body into put(); we kill it once bytes are on disk.
    const code = `
      import { openStore } from ${JSON.stringify(storeUrl)};
      import { Readable } from 'node:stream';
      const store = await openStore(${JSON.stringify(dir)});
      const chunk = Buffer.alloc(1 << 20, 0x5a);
      let n = 0;
      const body = new Readable({ read() { n++; if (n > 4096) this.push(null); else setTimeout(() => this.push(chunk), 2); } });
      await store.put(body);
      console.log('finished');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
    let partial = 0;
    for (let i = 0; i < 300 && partial < 8 << 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      for (const name of await readdir(join(dir, 'tmp'))) {
        if (name.startsWith('put-')) partial = Math.max(partial, (await stat(join(dir, 'tmp', name)).catch(() => ({ size: 0 }))).size);
      }
    }
    assert.ok(partial >= 8 << 20, `the child wrote a partial temp file (stderr: ${stderr.slice(0, 500)})`);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [], 'no partial blob is visible');
    assert.equal((await readdir(join(dir, 'tmp'))).filter((n) => n.startsWith('put-')).length, 1, 'the crash left its temp file');
    const reopened = await openStore(dir);
    assert.deepEqual(await reopened.verify(), { ok: 0, corrupt: [], removedTemp: 1 });
    assert.deepEqual(await readdir(join(dir, 'tmp')), ['uploads']);
    assert.deepEqual(await reopened.verify(), { ok: 0, corrupt: [], removedTemp: 0 });
  } finally {
    await done();
  }
});
