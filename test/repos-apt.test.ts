// APT with the real client: .debs built here with dpkg-deb, imported, served on 127.0.0.1 and fetched by
// apt-get with a private state/cache/sources (the machine's own apt state is untouched) and signature
// checking on (Signed-By: the site keyring). A tampered Packages file and a foreign key must make apt fail.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';
import type { RepoHandler } from '../src/serve/types.ts';
import { aptHandler, debControl, importDeb, siteSigner, type SiteSigner } from '../src/serve/repos/index.ts';
import { startTestServer } from './repo-server.ts';
import { available as has, run as runTool } from './tools.ts';

const skip = !has('apt-get') || !has('dpkg-deb') || !has('gpg') ? 'needs apt-get, dpkg-deb and gpg (Debian)' : false;

const run = (cmd: string, args: string[], opts: { cwd?: string } = {}) => runTool(cmd, args, { ...opts, set: { LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' } });

function buildDeb(dir: string, name: string, version: string, arch: string, compression: 'xz' | 'gzip'): string {
  const root = path.join(dir, `${name}-${version}-${arch}`);
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.mkdirSync(path.join(root, 'usr/share', name), { recursive: true });
  fs.writeFileSync(path.join(root, 'usr/share', name, 'hello.txt'), `hello from ${name} ${version}\n`);
  fs.writeFileSync(
    path.join(root, 'DEBIAN/control'),
    `Package: ${name}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: airlock tests <tests@example.invalid>\nSection: misc\nPriority: optional\nDescription: airlock test package\n A package built by the airlock test suite.\n .\n Second paragraph.\n`,
  );
  const out = path.join(dir, `${name}_${version}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', `-Z${compression}`, '--build', root, out], { stdio: 'ignore' });
  return out;
}

describe('APT repository with apt-get', { skip }, () => {
  let tmp: string;
  let store: Store;
  let signer: SiteSigner;
  let server: { url: string; close(): Promise<void> };
  let tamper: ((p: string, body: Buffer) => Buffer) | undefined;
  const debs: string[] = [];
  const seen: string[] = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-apt-'));
    store = await openStore(path.join(tmp, 'store'));
    signer = await siteSigner(store.root);
    debs.push(buildDeb(tmp, 'airlock-hello', '1.0-1', 'all', 'xz'));
    debs.push(buildDeb(tmp, 'airlock-tool', '2:0.9~rc1-1', 'amd64', 'gzip'));
    await importDeb(store, debs, { suite: 'airlock', component: 'main', signer });
    // A handler that can corrupt responses, to prove apt checks what the signed Release says.
    const inner = aptHandler();
    const wrapped: RepoHandler = {
      prefix: inner.prefix,
      handle: async (req, res, ctx) => {
        seen.push(req.url ?? '');
        if (!tamper) return inner.handle(req, res, ctx);
        const chunks: Buffer[] = [];
        const origWrite = res.write.bind(res);
        const origEnd = res.end.bind(res);
        const origHead = res.writeHead.bind(res);
        let status = 200;
        let headers: Record<string, string> = {};
        res.writeHead = ((s: number, h?: Record<string, string>) => {
          status = s;
          headers = { ...(h ?? {}) };
          return res;
        }) as typeof res.writeHead;
        res.write = ((c: Buffer) => {
          chunks.push(Buffer.from(c));
          return true;
        }) as typeof res.write;
        res.end = ((c?: Buffer) => {
          if (c) chunks.push(Buffer.from(c));
          const body = tamper!(req.url ?? '', Buffer.concat(chunks));
          delete headers['Content-Length'];
          origHead(status, { ...headers, 'Content-Length': String(body.length) });
          origWrite(body);
          return origEnd();
        }) as typeof res.end;
        return inner.handle(req, res, ctx);
      },
    };
    server = await startTestServer(store, [wrapped]);
  });

  after(async () => {
    await server?.close();
    await signer?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A private apt root: sources, state, cache and keyring all under `dir`. */
  function aptEnv(name: string, keyring: string) {
    const dir = path.join(tmp, name);
    for (const d of ['sources.list.d', 'state/lists/partial', 'cache/archives/partial', 'trusted.gpg.d', 'prefs.d', 'log', 'dl']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sources.list'), '');
    fs.writeFileSync(path.join(dir, 'state/status'), '');
    fs.writeFileSync(
      path.join(dir, 'sources.list.d/airlock.sources'),
      `Types: deb\nURIs: ${server.url}/apt\nSuites: airlock\nComponents: main\nArchitectures: amd64\nSigned-By: ${keyring}\n`,
    );
    const o = (k: string, v: string) => ['-o', `${k}=${v}`];
    const opts = [
      ...o('Dir::Etc::sourcelist', path.join(dir, 'sources.list')),
      ...o('Dir::Etc::sourceparts', path.join(dir, 'sources.list.d')),
      ...o('Dir::Etc::trusted', path.join(dir, 'trusted.gpg')),
      ...o('Dir::Etc::trustedparts', path.join(dir, 'trusted.gpg.d')),
      ...o('Dir::Etc::preferencesparts', path.join(dir, 'prefs.d')),
      ...o('Dir::State', path.join(dir, 'state')),
      ...o('Dir::State::status', path.join(dir, 'state/status')),
      ...o('Dir::Cache', path.join(dir, 'cache')),
      ...o('Dir::Log', path.join(dir, 'log')),
      ...o('Debug::NoLocking', '1'),
      ...o('APT::Sandbox::User', 'root'),
      ...o('APT::Architecture', 'amd64'),
      ...o('APT::Architectures', 'amd64'),
      ...o('Acquire::Languages', 'none'),
      ...o('Acquire::http::Proxy', 'DIRECT'),
      ...o('Acquire::Retries', '0'),
    ];
    return { dir, opts };
  }

  async function fetchKeyring(file: string): Promise<string> {
    const res = await fetch(`${server.url}/apt/airlock-archive-keyring.asc`);
    assert.equal(res.status, 200);
    const p = path.join(tmp, file);
    fs.writeFileSync(p, Buffer.from(await res.arrayBuffer()));
    return p;
  }

  test('control of an xz and a gzip .deb is read natively (ar + tar), without dpkg-deb', async () => {
    const a = await debControl(fs.readFileSync(debs[0]!));
    const b = await debControl(fs.readFileSync(debs[1]!));
    assert.equal(a.find(([k]) => k === 'Package')?.[1], 'airlock-hello');
    assert.equal(b.find(([k]) => k === 'Version')?.[1], '2:0.9~rc1-1');
    assert.match(a.find(([k]) => k === 'Description')![1], /^airlock test package\n A package built/);
  });

  test('apt-get update (signed InRelease, by-hash) and apt-get download verify and fetch both packages', async () => {
    const keyring = await fetchKeyring('site.asc');
    const env = aptEnv('ok', keyring);
    const up = await run('apt-get', [...env.opts, '--error-on=any', 'update']);
    assert.equal(up.code, 0, up.out);
    assert.doesNotMatch(up.out, /NO_PUBKEY|not signed|unauthenticated|^W:/m, up.out);
    const lists = fs.readdirSync(path.join(env.dir, 'state/lists'));
    assert.ok(lists.some((f) => f.endsWith('_InRelease')), lists.join(' '));
    assert.ok(lists.some((f) => /binary-amd64_Packages/.test(f)), lists.join(' '));
    const dl = await run('apt-get', [...env.opts, 'download', 'airlock-hello', 'airlock-tool'], { cwd: path.join(env.dir, 'dl') });
    assert.equal(dl.code, 0, dl.out);
    const got = fs.readdirSync(path.join(env.dir, 'dl')).sort();
    // apt-get download names files <pkg>_<version with ":" as %3a>_<arch>.deb
    assert.deepEqual(got, ['airlock-hello_1.0-1_all.deb', 'airlock-tool_2%3a0.9~rc1-1_amd64.deb']);
    assert.ok(seen.some((u) => /\/dists\/airlock\/main\/binary-amd64\/by-hash\/SHA256\/[0-9a-f]{64}$/.test(u)), seen.join('\n'));
    assert.ok(seen.includes('/apt/dists/airlock/InRelease'));
    const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    assert.equal(sha(path.join(env.dir, 'dl', got[0]!)), sha(debs[0]!));
    // install --download-only resolves from the same signed index.
    const inst = await run('apt-get', [...env.opts, '-y', '--download-only', 'install', 'airlock-hello']);
    assert.equal(inst.code, 0, inst.out);
    assert.ok(fs.existsSync(path.join(env.dir, 'cache/archives/airlock-hello_1.0-1_all.deb')));
  });

  test('a Packages file changed in transit fails apt-get update (hash sum mismatch)', async () => {
    const keyring = await fetchKeyring('site2.asc');
    const env = aptEnv('tampered', keyring);
    tamper = (url, body) => {
      if (!/Packages|by-hash/.test(url)) return body;
      // Packages.gz fetched by hash: hand out a different (valid gzip) index.
      const text = `Package: evil\nVersion: 1\nArchitecture: all\nFilename: pool/evil.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\nDescription: x\n`;
      return url.includes('.gz') || body[0] === 0x1f ? gzipSync(Buffer.from(text)) : Buffer.from(text);
    };
    try {
      const up = await run('apt-get', [...env.opts, 'update']);
      assert.notEqual(up.code, 0, up.out);
      assert.match(up.out, /Hash Sum mismatch|File has unexpected size/i, up.out);
    } finally {
      tamper = undefined;
    }
  });

  test('a repository signed by another key fails apt-get update (signature check is on)', async () => {
    const otherHome = path.join(tmp, 'other-store');
    fs.mkdirSync(otherHome);
    const other = await siteSigner(otherHome);
    try {
      const p = path.join(tmp, 'other.asc');
      fs.writeFileSync(p, other.publicKeyArmored);
      const env = aptEnv('wrongkey', p);
      const up = await run('apt-get', [...env.opts, 'update']);
      assert.notEqual(up.code, 0, up.out);
      assert.match(up.out, /NO_PUBKEY|not signed|signatures couldn't be verified/i, up.out);
    } finally {
      await other.close();
    }
  });
});
