// Static checks: each file in test/fixtures/findings lists the findings it must produce
// ("# expect-finding: <id> <severity> <path>") or "# expect-clean" (no errors or warnings).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { check, CHECKS, loadSite } from '../src/index.ts';

const dir = join(import.meta.dirname, 'fixtures', 'findings');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

describe('check findings', () => {
  for (const f of files) {
    it(f, () => {
      const text = readFileSync(join(dir, f), 'utf8');
      const result = check(loadSite(text, f));
      const expected = [...text.matchAll(/^# expect-finding: (\S+) (\S+) (\S+)$/gm)].map((m) => ({ id: m[1]!, severity: m[2]!, path: m[3]! }));
      const lines = text.split('\n');
      for (const e of expected) {
        const hit = result.findings.find((x) => x.id === e.id && x.severity === e.severity && x.path === e.path);
        assert.ok(hit, `missing ${e.id} ${e.severity} at ${e.path}; got:\n${result.findings.map((x) => `${x.id} ${x.severity} ${x.path}: ${x.message}`).join('\n')}`);
        assert.ok(hit.location.line >= 1 && hit.location.line <= lines.length, 'finding has a line');
        assert.ok(hit.hint.length > 0, 'finding has a fix hint');
        assert.ok(e.id in CHECKS, 'id is in the catalog');
      }
      if (expected.length === 0) {
        assert.deepEqual(result.findings.filter((x) => x.severity !== 'info').map((x) => `${x.id} ${x.path}: ${x.message}`), []);
      }
      // No surprise errors beyond what the fixture declares.
      const unexpected = result.findings.filter((x) => x.severity === 'error' && !expected.some((e) => e.id === x.id && e.path === x.path));
      assert.deepEqual(unexpected.map((x) => `${x.id} ${x.path}: ${x.message}`), []);
    });
  }

  it('seed pod CIDR names both fields with their lines', () => {
    const text = readFileSync(join(dir, 'seed-pod-cidr.yaml'), 'utf8');
    const r = check(loadSite(text, 'p.yaml'));
    const f = r.findings.find((x) => x.id === 'cidr-overlap')!;
    const podLine = text.split('\n').findIndex((l) => l.includes('podCIDR:')) + 1;
    const svcLine = text.split('\n').findIndex((l) => l.includes('serviceCIDR:')) + 1;
    assert.equal(f.location.line, svcLine);
    assert.equal(f.related?.[0]?.location.line, podLine);
    assert.match(f.message, /podCIDR/);
    assert.match(f.message, /serviceCIDR/);
  });
});
