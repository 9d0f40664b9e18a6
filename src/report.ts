// The verify report as a person reads it: a terminal summary, and a self-contained HTML page with an SVG
// topology picture (hosts, networks, links; each host coloured by its probes). Pure string building.
import type { Site } from './schema.ts';
import { topology } from './topology.ts';
import { OUTSIDER, type ProbeResult, type VerifyReport } from './verify.ts';
import type { Painter } from './term.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function formatVerifyTerminal(report: VerifyReport, paint: Painter): string {
  const lines: string[] = [];
  for (const n of report.notes) lines.push(paint('dim', `note: ${n}`));
  let host = '';
  for (const r of report.results) {
    if (r.host !== host) {
      host = r.host;
      lines.push(paint('bold', host === OUTSIDER ? 'outsider (a host outside the allowed networks)' : host));
    }
    if (r.status === 'skipped') {
      lines.push(paint('dim', `  - ${r.title} [${r.id}] — ${r.seen}`));
      continue;
    }
    const mark = r.status === 'pass' ? paint('green', '✔') : paint('red', '✖');
    lines.push(`  ${mark} ${r.title} ${paint('dim', `[${r.id}]`)}`);
    if (r.status !== 'pass') lines.push(`      expected: ${r.expected}\n      seen:     ${r.seen}`);
  }
  const summary = `${report.passed} passed, ${report.failed} failed${report.skipped ? `, ${report.skipped} not checkable here` : ''} (${report.seconds.toFixed(1)}s)`;
  lines.push(report.failed ? paint('red', `✖ ${summary}`) : paint('green', `✔ ${summary}`));
  return `${lines.join('\n')}\n`;
}

type HostState = 'pass' | 'fail' | 'none';

function hostStates(results: ProbeResult[]): Map<string, HostState> {
  // A host is judged by the probes run on it; the outsider's probes also judge the hosts they are about.
  const m = new Map<string, HostState>();
  for (const r of results) {
    const judged = r.host === OUTSIDER ? [OUTSIDER, ...r.about] : [r.host];
    if (r.status === 'skipped') continue;
    for (const h of judged) if (m.get(h) !== 'fail') m.set(h, r.status === 'pass' ? 'pass' : 'fail');
  }
  return m;
}

/** An SVG picture: one horizontal bus per network, one box per host, a line per interface. */
export function topologySvg(site: Site, results: ProbeResult[], extra: { upstream?: { network: string; address: string; label: string } } = {}): string {
  const topo = topology(site);
  const states = hostStates(results);
  const nets = [...site.networks];
  // The gateway's outside network on top, so the picture reads "internet above, site below".
  const outside = topo.gateway?.outside.iface.network;
  nets.sort((a, b) => Number(b.name === outside) - Number(a.name === outside));
  const boxW = 150;
  const gap = 30;
  const hosts = site.hosts;
  const width = Math.max(640, 80 + hosts.length * (boxW + gap) + (extra.upstream ? boxW + gap : 0));
  const busY = (i: number) => (i === 0 ? 70 : 250 + (i - 1) * 60);
  const hostY = 130;
  const boxH = 64;
  const height = busY(nets.length - 1) + 50;
  const colour: Record<HostState, string> = { pass: '#1f9d55', fail: '#cc1f1a', none: '#8795a1' };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="Site topology">`,
  ];
  nets.forEach((n, i) => {
    const y = busY(i);
    parts.push(`<line x1="20" y1="${y}" x2="${width - 20}" y2="${y}" stroke="#3d4852" stroke-width="4"/>`);
    parts.push(`<text x="24" y="${y - 8}" font-weight="600" fill="#3d4852">${esc(n.name)} ${esc(n.cidr)}${n.gateway ? ` · gw ${esc(n.gateway)}` : ''}</text>`);
  });
  const hostX = (i: number) => 60 + i * (boxW + gap);
  hosts.forEach((h, i) => {
    const x = hostX(i);
    const ifaces = topo.ifacesOf(h);
    ifaces.forEach((f, k) => {
      const ni = nets.findIndex((n) => n.name === f.iface.network);
      if (ni < 0) return;
      const lx = x + 20 + k * ((boxW - 40) / Math.max(1, ifaces.length - 1 || 1));
      const y = busY(ni);
      const fromY = y < hostY ? hostY : hostY + boxH;
      const dash = f.iface.enabled ? '' : ' stroke-dasharray="5 4"';
      const stroke = f.iface.enabled ? '#3d4852' : '#b8c2cc';
      parts.push(`<line x1="${lx}" y1="${fromY}" x2="${lx}" y2="${y}" stroke="${stroke}" stroke-width="2"${dash}/>`);
      const ty = y < hostY ? y + 16 : y - 6;
      parts.push(`<text x="${lx + 4}" y="${ty}" fill="${f.iface.enabled ? '#3d4852' : '#8795a1'}" font-size="10">${esc(f.iface.name)} ${esc(f.iface.address.replace(/\/\d+$/, ''))}${f.iface.enabled ? '' : ' (down)'}</text>`);
    });
    const st = states.get(h.name) ?? 'none';
    parts.push(`<rect x="${x}" y="${hostY}" width="${boxW}" height="${boxH}" rx="8" fill="#fff" stroke="${colour[st]}" stroke-width="3"/>`);
    parts.push(`<text x="${x + boxW / 2}" y="${hostY + 26}" text-anchor="middle" font-weight="700" font-size="14">${esc(h.name)}</text>`);
    parts.push(`<text x="${x + boxW / 2}" y="${hostY + 46}" text-anchor="middle" fill="#606f7b">${esc(h.roles.join(', '))} · ${esc(h.os)}</text>`);
  });
  if (extra.upstream) {
    const x = hostX(hosts.length);
    const ni = nets.findIndex((n) => n.name === extra.upstream!.network);
    const st = states.get(OUTSIDER) ?? 'none';
    if (ni >= 0) parts.push(`<line x1="${x + boxW / 2}" y1="${hostY}" x2="${x + boxW / 2}" y2="${busY(ni)}" stroke="#3d4852" stroke-width="2"/>`);
    parts.push(`<rect x="${x}" y="${hostY}" width="${boxW}" height="${boxH}" rx="30" fill="#f1f5f8" stroke="${colour[st]}" stroke-width="3" stroke-dasharray="2 3"/>`);
    parts.push(`<text x="${x + boxW / 2}" y="${hostY + 26}" text-anchor="middle" font-weight="700">${esc(extra.upstream.label)}</text>`);
    parts.push(`<text x="${x + boxW / 2}" y="${hostY + 46}" text-anchor="middle" fill="#606f7b">lab internet · ${esc(extra.upstream.address)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export function verifyHtml(site: Site, report: VerifyReport, extra: Parameters<typeof topologySvg>[2] = {}): string {
  const ok = report.failed === 0;
  const byHost = new Map<string, ProbeResult[]>();
  for (const r of report.results) byHost.set(r.host, [...(byHost.get(r.host) ?? []), r]);
  const sections = [...byHost.entries()]
    .map(([host, rs]) => {
      const rows = rs
        .map(
          (r) => `<tr class="${r.status}"><td class="st">${r.status === 'pass' ? '✔' : r.status === 'skipped' ? '–' : '✖'}</td><td>${esc(r.title)}<div class="id">${esc(r.id)} · ${r.seconds.toFixed(1)}s${r.attempts > 1 ? ` · ${r.attempts} tries` : ''}</div></td><td><code>${esc(r.expected)}</code></td><td><code>${esc(r.seen)}</code></td></tr>`,
        )
        .join('\n');
      const title = host === OUTSIDER ? 'outsider — a host outside the allowed networks' : host;
      return `<section><h2>${esc(title)}</h2><table><thead><tr><th></th><th>check</th><th>expected</th><th>seen</th></tr></thead><tbody>${rows}</tbody></table></section>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>airlock verify — ${esc(report.site)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#22292f;padding:0 1rem}
h1{margin-bottom:.2rem}.sub{color:#606f7b;margin-top:0}
.banner{padding:.8rem 1rem;border-radius:8px;font-weight:600;margin:1rem 0}
.banner.ok{background:#e3fcec;color:#1f9d55}.banner.bad{background:#fcebea;color:#cc1f1a}
.topo{overflow-x:auto;border:1px solid #dae1e7;border-radius:8px;padding:.5rem;background:#fafbfc}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid #eef1f4;vertical-align:top}
th{font-size:.8rem;color:#606f7b;text-transform:uppercase}td.st{width:1.5rem;font-weight:700}
tr.pass td.st{color:#1f9d55}tr.skipped{color:#8795a1}tr.fail td.st,tr.error td.st{color:#cc1f1a}tr.fail,tr.error{background:#fff5f5}
.id{color:#8795a1;font-size:.75rem}code{font-size:.8rem;white-space:pre-wrap;word-break:break-word}
ul.notes{color:#606f7b}
</style></head><body>
<h1>airlock verify — ${esc(report.site)}</h1>
<p class="sub">${esc(report.startedAt)} · ${report.seconds.toFixed(1)}s · ${report.results.length} checks</p>
<div class="banner ${ok ? 'ok' : 'bad'}">${ok ? '✔' : '✖'} ${report.passed} passed, ${report.failed} failed${report.skipped ? `, ${report.skipped} not checkable here` : ''}</div>
<div class="topo">${topologySvg(site, report.results, extra)}</div>
${report.notes.length ? `<ul class="notes">${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
${sections}
</body></html>
`;
}
