// Invalid inputs: every file in test/fixtures/invalid must be rejected with exit code 2 and a problem that
// names the field path, the line, and says what was wrong. Drop a file there to add a case.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isAirlockError, loadSite } from '../src/index.ts';

const dir = join(import.meta.dirname, 'fixtures', 'invalid');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

describe('invalid site files', () => {
  it('has at least 50 cases', () => assert.ok(files.length >= 50, `${files.length} fixtures`));
  for (const f of files) {
    it(f, () => {
      const text = readFileSync(join(dir, f), 'utf8');
      const path = /^# expect-path: ?(.*)$/m.exec(text)?.[1]?.trim() ?? '';
      const msg = /^# expect-message: ?(.*)$/m.exec(text)?.[1]?.trim() ?? '';
      let thrown: unknown;
      try {
        loadSite(text, f);
      } catch (e) {
        thrown = e;
      }
      assert.ok(isAirlockError(thrown), `expected an AirlockError, got ${String(thrown)}`);
      assert.equal(thrown.exitCode, 2);
      assert.ok(thrown.problems.length > 0);
      const lines = text.split('\n').length;
      for (const p of thrown.problems) {
        assert.equal(p.location.file, f);
        assert.ok(p.location.line >= 1 && p.location.line <= lines + 1, `line ${p.location.line} within the file`);
      }
      const match = thrown.problems.find((p) => (!path || p.path === path) && `${p.message} ${p.expected ?? ''} ${p.hint ?? ''}`.includes(msg));
      assert.ok(match, `no problem at "${path}" mentioning "${msg}":\n${JSON.stringify(thrown.problems, null, 2)}`);
      if (path) {
        // The reported line is where the field (or, when missing, its parent) is written.
        const line = text.split('\n')[match.location.line - 1] ?? '';
        const key = path.replace(/\[\d+\]$/, '').split('.').at(-1)!.replace(/\[\d+\]/g, '');
        const parentKey = path.split('.').at(-2)?.replace(/\[\d+\]/g, '') ?? '';
        assert.ok(
          /missing/.test(match.message) || line.includes(key) || line.includes(parentKey) || line.trimStart().startsWith('-'),
          `line ${match.location.line} ("${line}") should show ${path}`,
        );
      }
    });
  }
});

describe('problems come out in file order', () => {
  it('sorts by line', () => {
    const text = readFileSync(join(dir, 'host-bad-os.yaml'), 'utf8')
      .replace('os: rocky9', 'os: rocky8')
      .replace('kind: Site', 'kind: Sight');
    try {
      loadSite(text, 'x.yaml');
      assert.fail('should throw');
    } catch (e) {
      assert.ok(isAirlockError(e));
      const lines = e.problems.map((p) => p.location.line);
      assert.deepEqual(lines, [...lines].sort((a, b) => a - b));
      assert.ok(e.problems.length >= 3, 'all problems reported together, not just the first');
    }
  });
});
