// Go module proxy with the real go command (Debian's golang-go): module zips written here, imported,
// and fetched with GOPROXY=http://127.0.0.1:PORT/go (GOSUMDB=off), including an upper-case module path
// (case-encoded as "!u"), @v/list and @latest, 404 fall-through to the next proxy and 410 for removals.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';
import type { RepoHandler } from '../src/serve/types.ts';
import { goProxyHandler, importGoModule, removeGoModuleVersion } from '../src/serve/repos/index.ts';
import { makeZip, startTestServer } from './repo-server.ts';

const hasGo = (() => {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function moduleZip(module: string, version: string, files: Record<string, string>): Buffer {
  return makeZip(Object.entries(files).map(([name, data]) => ({ name: `${module}@${version}/${name}`, data })));
}

describe('Go module proxy with the go command', { skip: hasGo ? false : 'needs go (Debian package "golang-go")' }, () => {
  let tmp: string;
  let store: Store;
  let store2: Store;
  let server: { url: string; close(): Promise<void> };
  const seen: string[] = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-go-'));
    store = await openStore(path.join(tmp, 'store'));
    store2 = await openStore(path.join(tmp, 'store2'));
    const up = 'example.com/Upper/mod';
    for (const [v, t] of [['v1.0.0', '2024-01-02T03:04:05Z'], ['v1.1.0', '2024-02-02T03:04:05Z'], ['v1.2.0-rc.1', '2024-03-02T03:04:05Z']] as const) {
      await importGoModule(store, {
        module: up,
        version: v,
        zip: moduleZip(up, v, { 'go.mod': `module ${up}\n\ngo 1.19\n`, 'mod.go': `package mod\n\nconst Version = "${v}"\n` }),
        info: { Time: t },
      });
    }
    // No go.mod in the zip: the proxy serves the synthesised "module <path>" as the go command expects.
    await importGoModule(store, { module: 'example.com/legacy', version: 'v0.9.0', zip: moduleZip('example.com/legacy', 'v0.9.0', { 'legacy.go': 'package legacy\n' }), info: { Time: '2023-01-01T00:00:00Z' } });
    await importGoModule(store, { module: 'example.com/legacy', version: 'v0.9.1', zip: moduleZip('example.com/legacy', 'v0.9.1', { 'legacy.go': 'package legacy\n' }), info: { Time: '2023-01-02T00:00:00Z' } });
    await removeGoModuleVersion(store, 'example.com/legacy', 'v0.9.1');
    // Only the second proxy has this one: the first answers 404 and go moves on.
    await importGoModule(store2, { module: 'example.com/elsewhere', version: 'v1.0.0', zip: moduleZip('example.com/elsewhere', 'v1.0.0', { 'go.mod': 'module example.com/elsewhere\n', 'e.go': 'package elsewhere\n' }) });
    const log = (h: RepoHandler): RepoHandler => ({ prefix: h.prefix, handle: (req, res, ctx) => (seen.push(req.url ?? ''), h.handle(req, res, ctx)) });
    const second = goProxyHandler('/go2/');
    server = await startTestServer(store, [log(goProxyHandler()), { prefix: second.prefix, handle: (req, res, ctx) => second.handle(req, res, { ...ctx, store: store2 }) }]);
  });

  after(async () => {
    await server?.close();
    if (tmp) {
      // The module cache is read-only by design.
      execFileSync('chmod', ['-R', 'u+w', tmp]);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  function goEnv(name: string, proxy = `${server.url}/go`): NodeJS.ProcessEnv {
    const home = path.join(tmp, name);
    fs.mkdirSync(home, { recursive: true });
    return {
      PATH: process.env.PATH,
      HOME: home,
      GOPATH: path.join(home, 'gopath'),
      GOMODCACHE: path.join(home, 'gopath/pkg/mod'),
      GOCACHE: path.join(home, 'gocache'),
      GOENV: 'off',
      GOPROXY: proxy,
      GOFLAGS: '-mod=mod',
      GONOSUMDB: '*',
      GOSUMDB: 'off',
      GOTOOLCHAIN: 'local',
      GO111MODULE: 'on',
    };
  }

  function go(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ code: number; out: string; stdout: string }> {
    return new Promise((resolve) => {
      execFile('go', args, { env, cwd: cwd ?? env.HOME, timeout: 120_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}`, stdout });
      });
    });
  }

  test('go mod download of an upper-case module path (requests are case-encoded)', async () => {
    seen.length = 0;
    const env = goEnv('dl');
    const r = await go(['mod', 'download', '-json', 'example.com/Upper/mod@v1.0.0'], env);
    assert.equal(r.code, 0, r.out);
    const info = JSON.parse(r.stdout) as { Path: string; Version: string; Zip: string; Dir: string; Sum: string; GoModSum: string };
    assert.equal(info.Path, 'example.com/Upper/mod');
    assert.equal(info.Version, 'v1.0.0');
    assert.match(info.Sum, /^h1:/);
    assert.equal(fs.readFileSync(path.join(info.Dir, 'mod.go'), 'utf8'), 'package mod\n\nconst Version = "v1.0.0"\n');
    // go percent-encodes the "!" of the case encoding: /go/example.com/%21upper/mod/@v/v1.0.0.zip
    assert.ok(seen.map(decodeURIComponent).includes('/go/example.com/!upper/mod/@v/v1.0.0.zip'), seen.join('\n'));
    assert.ok(!seen.some((u) => /Upper/.test(u)));
  });

  test('a module requiring it resolves @latest and @v/list (release over pre-release), go.sum written', async () => {
    const env = goEnv('app');
    const app = path.join(env.HOME!, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'go.mod'), 'module app\n\ngo 1.19\n');
    fs.writeFileSync(path.join(app, 'main.go'), 'package main\n\nimport (\n\t_ "example.com/Upper/mod"\n\t_ "example.com/legacy"\n)\n\nfunc main() {}\n');
    const get = await go(['get', 'example.com/Upper/mod@latest', 'example.com/legacy'], env, app);
    assert.equal(get.code, 0, get.out);
    const mod = fs.readFileSync(path.join(app, 'go.mod'), 'utf8');
    assert.match(mod, /example\.com\/Upper\/mod v1\.1\.0/);
    // v0.9.1 was removed (410 and gone from the list): v0.9.0 is the latest legacy.
    assert.match(mod, /example\.com\/legacy v0\.9\.0/);
    assert.match(fs.readFileSync(path.join(app, 'go.sum'), 'utf8'), /example\.com\/Upper\/mod v1\.1\.0 h1:/);
    const versions = await go(['list', '-m', '-versions', 'example.com/Upper/mod'], env, app);
    assert.equal(versions.code, 0, versions.out);
    assert.equal(versions.stdout.trim(), 'example.com/Upper/mod v1.0.0 v1.1.0 v1.2.0-rc.1');
    const legacyMod = await go(['mod', 'download', '-json', 'example.com/legacy@v0.9.0'], env, app);
    assert.equal(legacyMod.code, 0, legacyMod.out);
    assert.equal(fs.readFileSync((JSON.parse(legacyMod.stdout) as { GoMod: string }).GoMod, 'utf8'), 'module example.com/legacy\n');
  });

  test('404 sends go to the next proxy in GOPROXY; 410 for a removed version', async () => {
    const env = goEnv('chain', `${server.url}/go,${server.url}/go2`);
    const r = await go(['mod', 'download', '-json', 'example.com/elsewhere@v1.0.0'], env);
    assert.equal(r.code, 0, r.out);
    const env2 = goEnv('gone');
    const g = await go(['mod', 'download', '-json', 'example.com/legacy@v0.9.1'], env2);
    assert.notEqual(g.code, 0, g.out);
    assert.match(g.out, /410 Gone/);
    const res = await fetch(`${server.url}/go/example.com/legacy/@v/v0.9.1.info`);
    assert.equal(res.status, 410);
    const nf = await fetch(`${server.url}/go/example.com/nothing/@v/list`);
    assert.equal(nf.status, 404);
    const badCase = await fetch(`${server.url}/go/example.com/Upper/mod/@v/list`);
    assert.equal(badCase.status, 400);
  });
});
