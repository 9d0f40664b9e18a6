// verify's probes are pure data: which checks a site gets, and how each judges real command output.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadSite } from '../src/index.ts';
import { nextSerial, withoutSerial } from '../src/apply.ts';
import { verifyHtml, topologySvg } from '../src/report.ts';
import { OUTSIDER, verifyProbes, type Probe } from '../src/verify.ts';
import { root } from './sites.ts';

const seed = loadSite(readFileSync(join(root, 'examples', 'seed', 'site.yaml'), 'utf8')).site;
const probes = verifyProbes(seed, { upstream: { whoamiUrl: 'http://203.0.113.1/whoami', name: 'www.upstream.test' }, outsider: true });
const find = (id: string, host: string) => probes.find((p) => p.id === id && p.host === host)!;
const judge = (p: Probe, stdout: string, code = 0) => p.judge({ code, stdout, stderr: '' });

describe('verify probes for the seed site', () => {
  it('covers the seed 000 checklist on every node, plus the negatives', () => {
    for (const node of ['cp1', 'w1', 'w2'])
      for (const id of ['node-default-route', 'node-outside-down', 'node-nat-egress', 'node-dns-internal', 'node-dns-upstream', 'node-ntp-synced', 'node-resolv-survives-nm'])
        assert.ok(find(id, node), `${id} on ${node}`);
    for (const id of ['gateway-forwarding', 'gateway-nat-rule', 'dns-server-running', 'dns-zone-served', 'ntp-server-synced']) assert.ok(find(id, 'admin'), id);
    assert.ok(find('outsider-dns-refused', OUTSIDER));
    assert.ok(find('outsider-ntp-denied', OUTSIDER));
  });

  it('mirror: every node reaches the mirror, and apt knows no other source (the pipeline run on real files)', () => {
    for (const node of ['cp1', 'w1', 'w2']) assert.ok(find('node-mirror-reachable', node), node);
    const reach = find('node-mirror-reachable', 'w2');
    assert.match(reach.command, /http:\/\/192\.168\.10\.10:5000\/healthz/);
    assert.equal(judge(reach, '200').pass, true);
    assert.equal(judge(reach, '000', 7).pass, false);
    const apt = find('node-apt-only-mirror', 'w2');
    assert.ok(!probes.some((p) => p.id === 'node-apt-only-mirror' && p.host === 'cp1'), 'rocky9 hosts have no apt');
    const dir = mkdtempSync(join(tmpdir(), 'airlock-aptprobe-'));
    try {
      mkdirSync(join(dir, 'sources.list.d'));
      writeFileSync(join(dir, 'sources.list'), '# nothing here\n');
      writeFileSync(join(dir, 'sources.list.d', 'airlock.sources'), 'Types: deb\nURIs: http://192.168.10.10:5000/apt\nSuites: bookworm\nComponents: main\nSigned-By: /etc/apt/keyrings/airlock-site.asc\n');
      writeFileSync(join(dir, 'sources.list.d', 'debian.sources.airlock-off'), 'Types: deb\nURIs: http://deb.debian.org/debian\n');
      const runIt = () => {
        const r = spawnSync('sh', ['-c', apt.command.replaceAll('/etc/apt', dir)], { encoding: 'utf8' });
        return apt.judge({ code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr });
      };
      assert.deepEqual(runIt(), { pass: true, seen: 'http://192.168.10.10:5000/apt' });
      writeFileSync(join(dir, 'sources.list.d', 'extra.list'), 'deb [signed-by=/k.gpg] http://deb.debian.org/debian bookworm main\n');
      const bad = runIt();
      assert.equal(bad.pass, false);
      assert.match(bad.seen, /deb\.debian\.org/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('default route: only via the admin, metric 200', () => {
    const p = find('node-default-route', 'cp1');
    assert.equal(judge(p, 'default via 192.168.10.10 dev enp0s9 proto static metric 200\n').pass, true);
    assert.equal(judge(p, 'default via 203.0.113.1 dev enp0s8 proto static metric 100\ndefault via 192.168.10.10 dev enp0s9 proto static metric 200\n').pass, false, 'a second default route out the outside link');
    assert.equal(judge(p, 'default via 192.168.10.10 dev enp0s9 proto static metric 100\n').pass, false, 'wrong metric');
    assert.equal(judge(p, '').pass, false);
  });

  it('NAT: the upstream must see the admin outside address', () => {
    const p = find('node-nat-egress', 'w1');
    assert.equal(judge(p, '203.0.113.10\n').pass, true);
    assert.equal(judge(p, '192.168.10.12\n').pass, false, 'no masquerade');
  });

  it('DNS: answer, server and status all count', () => {
    const p = find('node-dns-internal', 'w2');
    const ok = ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; ANSWER SECTION:\nadmin.airlock.lab.\t3600\tIN\tA\t192.168.10.10\n;; SERVER: 192.168.10.10#53(192.168.10.10) (UDP)\n';
    assert.equal(judge(p, ok).pass, true);
    assert.equal(judge(p, ok.replace('SERVER: 192.168.10.10#', 'SERVER: 203.0.113.1#')).pass, false, 'answered by someone else');
    assert.equal(judge(p, ok.replace('NOERROR', 'SERVFAIL')).pass, false);
    const neg = find('outsider-dns-refused', OUTSIDER);
    assert.equal(judge(neg, ';; ->>HEADER<<- opcode: QUERY, status: REFUSED, id: 2\n').pass, true);
    assert.equal(judge(neg, ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 2\n').pass, false);
  });

  it('NTP: ^* on the admin address', () => {
    const p = find('node-ntp-synced', 'cp1');
    assert.equal(judge(p, 'MS Name/IP address         Stratum Poll Reach LastRx Last sample\n^* 192.168.10.10                2   6    17     3   +12us[  +20us] +/-  1ms\n').pass, true);
    assert.equal(judge(p, '^? 192.168.10.10                0   6     0     -     +0ns[   +0ns] +/-    0ns\n').pass, false);
    assert.ok(p.retryFor && p.retryFor > 0, 'waits for sync');
  });

  it('NAT rule count catches a duplicate', () => {
    const p = find('gateway-nat-rule', 'admin');
    assert.equal(judge(p, '1\n').pass, true);
    assert.equal(judge(p, '2\n').pass, false);
  });
});

describe('zone serials', () => {
  const zone = '@ IN SOA ns1.x. h.x. (\n\t2026010101 ; serial\n\t3600 ; refresh\n';
  it('compares zones without their serial', () => assert.equal(withoutSerial(zone), withoutSerial(zone.replace('2026010101', '7'))));
  it('moves forward past the live serial and today', () => {
    const now = new Date('2026-11-23T10:00:00Z');
    assert.match(nextSerial(zone, zone.replace('2026010101', '2026112305'), now), /2026112306 ; serial/);
    assert.match(nextSerial(zone, zone.replace('2026010101', '5'), now), /2026112300 ; serial/);
    assert.match(nextSerial(zone, undefined, now), /2026010101 ; serial/, 'a new zone keeps the rendered serial');
  });
});

describe('report', () => {
  it('draws every host and network, coloured by results', () => {
    const svg = topologySvg(seed, [{ id: 'x', host: 'w1', title: 't', expected: 'e', seen: 's', status: 'fail', seconds: 0, attempts: 1, about: ['w1'] }]);
    for (const name of ['admin', 'cp1', 'w1', 'w2', 'outside', 'inside']) assert.match(svg, new RegExp(`>${name}`));
    assert.match(svg, /stroke="#cc1f1a"/, 'the failing host is red');
    assert.match(svg, /stroke-dasharray="5 4"/, 'disabled links are dashed');
  });
  it('is a self-contained page that escapes what it shows', () => {
    const html = verifyHtml(seed, { site: 'seed', startedAt: 'now', seconds: 1, passed: 0, failed: 1, skipped: 0, notes: [], results: [{ id: 'x', host: 'w1', title: '<script>', expected: 'e', seen: 's', status: 'fail', seconds: 0, attempts: 1, about: [] }] });
    assert.doesNotMatch(html, /<script>/);
    assert.doesNotMatch(html, /(src|href)="http/);
    assert.match(html, /<svg/);
  });
});
