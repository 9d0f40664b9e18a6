// bench/check.ts — check+render of a 1000-host site, next to merely parsing its YAML (the peer).
// Prints medians and the ratio; target: check+render < 3× parse and < 1 s. Run: npx tsx bench/check.ts [hosts]
import { parse } from 'yaml';
import { check, loadSite, render } from '../src/index.ts';
import { bigSiteYaml } from './gen.ts';

const n = Number(process.argv[2] ?? 1000);
const text = bigSiteYaml(n);
const rounds = 15;

function median(fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

// Warm up the JIT for both sides equally.
for (let i = 0; i < 3; i++) {
  parse(text);
  render(loadSite(text, 'big.yaml'), { serial: 1 });
}
let findings = 0;
let files = 0;
const parseMs = median(() => void parse(text));
const loadMs = median(() => void loadSite(text, 'big.yaml'));
const fullMs = median(() => {
  const loaded = loadSite(text, 'big.yaml');
  findings = check(loaded).findings.length;
  files = render(loaded, { serial: 1 }).hosts.reduce((a, h) => a + h.files.length, 0);
});
console.log(`site: ${n} hosts, ${(text.length / 1024).toFixed(0)} KiB of YAML; ${findings} findings; ${files} files rendered`);
console.log(`parse only (yaml.parse)        ${parseMs.toFixed(1).padStart(8)} ms   (peer)`);
console.log(`load (parse+positions+schema)  ${loadMs.toFixed(1).padStart(8)} ms   ${(loadMs / parseMs).toFixed(2)}× parse`);
console.log(`load + check + render          ${fullMs.toFixed(1).padStart(8)} ms   ${(fullMs / parseMs).toFixed(2)}× parse  (target < 3×, < 1000 ms)`);
