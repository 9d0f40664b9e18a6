// A tiny OCI image made by hand (a layer tar, a config, a manifest) for registry and containerd tests: no network.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

// ---- tiny image builder ------------------------------------------------------------------------

export type TarItem = { name: string; data?: Buffer | string; symlink?: string; dir?: boolean };

/** A ustar archive (regular files, directories, symlinks). */
export function makeTar(items: TarItem[]): Buffer {
  const blocks: Buffer[] = [];
  for (const it of items) {
    const h = Buffer.alloc(512);
    const data = it.data === undefined ? Buffer.alloc(0) : Buffer.from(it.data);
    h.write(it.name, 0, 100, 'utf8');
    h.write(it.dir ? '0000755\0' : '0000644\0', 100, 'ascii');
    h.write('0000000\0', 108, 'ascii');
    h.write('0000000\0', 116, 'ascii');
    h.write(`${(it.symlink || it.dir ? 0 : data.length).toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    h.write('14000000000\0', 136, 'ascii');
    h.write('        ', 148, 'ascii');
    h.write(it.symlink ? '2' : it.dir ? '5' : '0', 156, 'ascii');
    if (it.symlink) h.write(it.symlink, 157, 100, 'utf8');
    h.write('ustar\0', 257, 'ascii');
    h.write('00', 263, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    blocks.push(h);
    if (!it.symlink && !it.dir && data.length > 0) {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export interface BuiltImage {
  layer: Buffer; // uncompressed tar
  layerGz: Buffer;
  config: Buffer;
  manifest: Buffer;
  digest: string; // manifest digest
}

export function buildImage(text: string): BuiltImage {
  const layer = makeTar([{ name: 'etc/', dir: true }, { name: 'etc/hello.txt', data: `${text}\n` }]);
  const layerGz = gzipSync(layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha(config), size: config.length },
      layers: [{ mediaType: LAYER_GZIP, digest: sha(layerGz), size: layerGz.length }],
    }),
  );
  return { layer, layerGz, config, manifest, digest: sha(manifest) };
}

/** Write an OCI image layout holding `img` as `tag`. */
export async function writeLayout(dir: string, img: BuiltImage, tag: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const b of [img.layerGz, img.config, img.manifest]) await writeFile(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
}

