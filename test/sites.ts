// The sites every render test runs over: the built-in examples and test/fixtures/sites.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadSite, render, type Rendered, type Site } from '../src/index.ts';

export const root = join(import.meta.dirname, '..');
export const GOLDEN_SERIAL = 2026010101;

export interface TestSite {
  name: string;
  file: string;
  site: Site;
  rendered: Rendered;
}

export function testSites(): TestSite[] {
  const files: [string, string][] = [];
  for (const d of readdirSync(join(root, 'examples'))) {
    const f = join(root, 'examples', d, 'site.yaml');
    if (existsSync(f)) files.push([`example-${d}`, f]);
  }
  const fx = join(root, 'test', 'fixtures', 'sites');
  for (const f of readdirSync(fx).filter((x) => x.endsWith('.yaml'))) files.push([basename(f, '.yaml'), join(fx, f)]);
  return files.map(([name, file]) => {
    const loaded = loadSite(readFileSync(file, 'utf8'), file);
    return { name, file, site: loaded.site, rendered: render(loaded, { serial: GOLDEN_SERIAL }) };
  });
}
