// A site's PKI directory, made or brought up to date: the cluster CA (reused when present), the bootstrap
// token, the certificate key for extra control planes, the join command, and the mirror's HTTPS certificate.
// File-system edge over the pure pieces in cluster/pki.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  bootstrapToken,
  certificateKey,
  generateCA,
  issueServerCertificate,
  joinCommand,
  loadPki,
  pkiMaterial,
  writeMirrorCertificate,
  writePki,
  type WrittenFile,
} from './cluster/pki.ts';
import { controlPlaneHosts } from './cluster/kubeadm.ts';
import { mirrorCertificateNames } from './render/mirrorclient.ts';
import type { Site } from './schema.ts';
import { topology } from './topology.ts';

export interface SitePki {
  written: WrittenFile[];
  caCertHash: string;
  reusedCA: boolean;
  token: string;
  joinCommand?: string;
}

export async function ensureSitePki(site: Site, dir: string, now: Date): Promise<SitePki> {
  const c = site.cluster;
  const existing = existsSync(join(dir, 'ca.crt')) ? await loadPki(dir, now) : undefined;
  const notBefore = new Date(now.getTime() - 5 * 60_000); // a little clock skew between hosts is fine
  const ca = existing?.ca ?? generateCA({ commonName: 'kubernetes', notBefore, days: 3650 });
  const multiCp = controlPlaneHosts(site).length > 1;
  const material = pkiMaterial(ca, existing?.token ?? bootstrapToken(), existing?.certificateKey ?? (multiCp ? certificateKey() : undefined));
  const join_ = c ? joinCommand(c.controlPlaneEndpoint.includes(':') ? c.controlPlaneEndpoint : `${c.controlPlaneEndpoint}:6443`, material) : undefined;
  const written = await writePki(dir, material, join_ ? { joinCommand: join_ } : {});
  if (site.services.mirrors?.tls) {
    // Re-issued on every run: the names may have changed with the site.
    const names = mirrorCertificateNames(topology(site));
    written.push(...(await writeMirrorCertificate(dir, issueServerCertificate(ca, { ...names, notBefore, days: 825 }))));
  }
  return { written, caCertHash: material.caCertHash, reusedCA: Boolean(existing), token: material.token, ...(join_ ? { joinCommand: join_ } : {}) };
}
