// PyPI with the real pip: wheels written here (a wheel is a zip), imported, and downloaded by
// `pip download --no-deps --index-url http://127.0.0.1:PORT/pypi/simple/` over both the PEP 691 JSON
// and the PEP 503 HTML pages, with hash checking, name normalisation and Requires-Python.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';
import type { RepoHandler } from '../src/serve/types.ts';
import { importPython, pypiHandler } from '../src/serve/repos/index.ts';
import { makeZip, startTestServer } from './repo-server.ts';
import { run as runTool } from './tools.ts';

function findPip(): string[] | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(py, ['-m', 'pip', '--version'], { stdio: 'ignore' });
      return [py, '-m', 'pip'];
    } catch {
      /* next */
    }
  }
  return undefined;
}
const pip = findPip();

const run = (cmd: string[], cwd?: string) => runTool(cmd[0]!, cmd.slice(1), { ...(cwd ? { cwd } : {}), timeoutMs: 120_000, set: { PIP_CONFIG_FILE: '/dev/null', PIP_NO_INPUT: '1', LC_ALL: 'C.UTF-8' } });

function wheel(dir: string, dist: string, displayName: string, version: string, requiresPython?: string): string {
  const di = `${dist}-${version}.dist-info`;
  const metadata = `Metadata-Version: 2.1\nName: ${displayName}\nVersion: ${version}\nSummary: airlock test wheel\n${requiresPython ? `Requires-Python: ${requiresPython}\n` : ''}\nLong description.\n`;
  const file = path.join(dir, `${dist}-${version}-py3-none-any.whl`);
  const init = `VERSION = "${version}"\n`;
  const rec = (n: string, d: string) => `${n},sha256=${createHash('sha256').update(d).digest('base64url')},${Buffer.byteLength(d)}`;
  const wheelMeta = 'Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n';
  fs.writeFileSync(
    file,
    makeZip([
      { name: `${dist}/__init__.py`, data: init },
      { name: `${di}/METADATA`, data: metadata },
      { name: `${di}/WHEEL`, data: wheelMeta },
      { name: `${di}/RECORD`, data: `${rec(`${dist}/__init__.py`, init)}\n${rec(`${di}/METADATA`, metadata)}\n${rec(`${di}/WHEEL`, wheelMeta)}\n${di}/RECORD,,\n` },
    ]),
  );
  return file;
}

describe('PyPI simple repository with pip', { skip: pip ? false : 'needs pip (Debian package "python3-pip")' }, () => {
  let tmp: string;
  let store: Store;
  let server: { url: string; close(): Promise<void> };
  const seen: { url: string; accept: string }[] = [];
  let mode: 'normal' | 'html-only' | 'tamper' = 'normal';
  const wheels: string[] = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-pypi-'));
    store = await openStore(path.join(tmp, 'store'));
    wheels.push(wheel(tmp, 'my_pkg', 'My_Pkg', '1.0', '>=3.7'));
    // 2.0 is newer but only for Python < 3: pip must skip it by data-requires-python / requires-python.
    wheels.push(wheel(tmp, 'my_pkg', 'My_Pkg', '2.0', '<3'));
    for (const w of wheels) await importPython(store, w);
    const inner = pypiHandler();
    const h: RepoHandler = {
      prefix: inner.prefix,
      handle: async (req, res, ctx) => {
        seen.push({ url: req.url ?? '', accept: String(req.headers.accept ?? '') });
        if (mode === 'html-only') req.headers.accept = 'text/html';
        if (mode === 'tamper' && /\.whl$/.test(req.url ?? '')) {
          res.writeHead(200, { 'Content-Type': 'application/zip' });
          res.end(makeZip([{ name: 'evil.txt', data: 'not the wheel you hashed' }]));
          return true;
        }
        return inner.handle(req, res, ctx);
      },
    };
    server = await startTestServer(store, [h]);
  });

  after(async () => {
    await server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const download = (dest: string, ...args: string[]) =>
    run([...pip!, 'download', '--no-deps', '--no-cache-dir', '--disable-pip-version-check', '--index-url', `${server.url}/pypi/simple/`, '--dest', dest, ...args]);

  test('pip download over PEP 691 JSON: newest version for this Python, hash checked', async () => {
    seen.length = 0;
    const dest = path.join(tmp, 'dl-json');
    const r = await download(dest, 'my-pkg');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(fs.readdirSync(dest), ['my_pkg-1.0-py3-none-any.whl']);
    assert.equal(fs.readFileSync(path.join(dest, 'my_pkg-1.0-py3-none-any.whl')).compare(fs.readFileSync(wheels[0]!)), 0);
    assert.ok(seen.some((s) => s.url === '/pypi/simple/my-pkg/' && s.accept.includes('application/vnd.pypi.simple.v1+json')), JSON.stringify(seen));
  });

  test('pip download over PEP 503 HTML, with PEP 658 metadata and --require-hashes', async () => {
    mode = 'html-only';
    seen.length = 0;
    try {
      const dest = path.join(tmp, 'dl-html');
      const sha = createHash('sha256').update(fs.readFileSync(wheels[0]!)).digest('hex');
      const req = path.join(tmp, 'req.txt');
      fs.writeFileSync(req, `My.Pkg==1.0 --hash=sha256:${sha}\n`);
      const r = await download(dest, '--require-hashes', '-r', req);
      assert.equal(r.code, 0, r.out);
      assert.deepEqual(fs.readdirSync(dest), ['my_pkg-1.0-py3-none-any.whl']);
      // Without --require-hashes, pip ≥ 22.3 reads data-dist-info-metadata (PEP 658) / data-core-metadata
      // (PEP 714) and fetches <wheel>.metadata (hash-checked) before the wheel. (pip 23.0 compares the
      // METADATA Name with the requirement literally, hence the exact spelling here.)
      const r3 = await download(path.join(tmp, 'dl-html-meta'), 'My_Pkg==1.0');
      assert.equal(r3.code, 0, r3.out);
      const major = Number(/pip (\d+)/.exec(execFileSync(pip![0]!, [...pip!.slice(1), '--version'], { encoding: 'utf8' }))?.[1]);
      if (major >= 23) assert.ok(seen.some((s) => s.url === '/pypi/packages/my-pkg/my_pkg-1.0-py3-none-any.whl.metadata'), JSON.stringify(seen));
      const bad = path.join(tmp, 'req-bad.txt');
      fs.writeFileSync(bad, `my-pkg==1.0 --hash=sha256:${'0'.repeat(64)}\n`);
      const r2 = await download(path.join(tmp, 'dl-bad'), '--require-hashes', '-r', bad);
      assert.notEqual(r2.code, 0, r2.out);
      assert.match(r2.out, /DO NOT MATCH THE HASHES/);
    } finally {
      mode = 'normal';
    }
  });

  test('non-normalised names: pip finds My_Pkg; the server redirects /simple/My_Pkg/ to /simple/my-pkg/', async () => {
    const r = await download(path.join(tmp, 'dl-name'), 'My_Pkg==1.0');
    assert.equal(r.code, 0, r.out);
    const res = await fetch(`${server.url}/pypi/simple/My_Pkg/`, { redirect: 'manual' });
    assert.equal(res.status, 301);
    assert.equal(res.headers.get('location'), '/pypi/simple/my-pkg/');
  });

  test('a file that does not match the sha256 in its URL is rejected by pip', async () => {
    mode = 'tamper';
    try {
      const r = await download(path.join(tmp, 'dl-tamper'), 'my-pkg==1.0');
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /HASHES|hash/i);
    } finally {
      mode = 'normal';
    }
  });
});
