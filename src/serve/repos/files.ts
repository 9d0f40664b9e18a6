// Plain files: /files/<name> (name may have "/"-separated parts), GET/HEAD with single byte ranges
// (206/416), ETag = the content digest, If-None-Match (304).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Store } from '../../store/types.ts';
import { HttpError, type RepoHandler } from '../types.ts';
import { publishPath, sendPublished, type PathRecord, readOnlyHandler } from './http.ts';

export const FILES_NS = 'files';

export class FilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilesError';
  }
}

const TYPES: [RegExp, string][] = [
  [/\.(tar\.gz|tgz)$/, 'application/gzip'],
  [/\.gz$/, 'application/gzip'],
  [/\.tar$/, 'application/x-tar'],
  [/\.(tar\.xz|xz)$/, 'application/x-xz'],
  [/\.zst$/, 'application/zstd'],
  [/\.zip$/, 'application/zip'],
  [/\.json$/, 'application/json'],
  [/\.ya?ml$/, 'application/x-yaml'],
  [/\.(txt|sha256|sha512|md5|asc|pem|crt)$/, 'text/plain; charset=utf-8'],
  [/\.iso$/, 'application/x-iso9660-image'],
];

export function contentTypeFor(name: string): string {
  return TYPES.find(([re]) => re.test(name))?.[1] ?? 'application/octet-stream';
}

/** A file name under /files/: "/"-separated parts of [A-Za-z0-9._+~@=-], none "." or "..", no empty part. */
export function checkFileName(name: string): string | undefined {
  if (name.length === 0 || name.length > 1024) return 'empty or longer than 1024 characters';
  for (const part of name.split('/')) {
    if (part === '' || part === '.' || part === '..') return 'empty, "." or ".." part (and no leading or trailing "/")';
    if (!/^[A-Za-z0-9._+~@=-]+$/.test(part)) return `part "${part}" has characters other than letters, digits and "._+~@=-"`;
    if (part.length > 255) return `part "${part.slice(0, 20)}..." is longer than 255 characters`;
  }
  return undefined;
}

/** Import a local file as /files/<name> (replacing what was there). */
export async function importFile(store: Store, path: string, opts: { name: string; contentType?: string }): Promise<PathRecord & { name: string }> {
  const bad = checkFileName(opts.name);
  if (bad) throw new FilesError(`file name "${opts.name}": ${bad}`);
  const st = await stat(path);
  if (!st.isFile()) throw new FilesError(`${path} is not a regular file`);
  // Streamed: files may be large (ISOs, tool bundles).
  const info = await store.put(createReadStream(path));
  return publishStoredFile(store, info.digest, opts);
}

/** Publish a blob the store already holds (verified when it went in) as /files/<name>: no second copy. */
export async function publishStoredFile(store: Store, digest: string, opts: { name: string; contentType?: string }): Promise<PathRecord & { name: string }> {
  const bad = checkFileName(opts.name);
  if (bad) throw new FilesError(`file name "${opts.name}": ${bad}`);
  const info = await store.stat(digest);
  if (!info) throw new FilesError(`${digest} is not in the store`);
  const contentType = opts.contentType ?? contentTypeFor(opts.name);
  await publishPath(store, FILES_NS, opts.name, { digest, size: info.size, contentType });
  return { name: opts.name, digest, size: info.size, contentType };
}

export function filesHandler(prefix = '/files/'): RepoHandler {
  return readOnlyHandler(prefix, async (req, res, store, segs) => {
    const name = segs.join('/');
    if (checkFileName(name)) throw new HttpError(404, 'not found');
    return sendPublished(req, res, store, FILES_NS, name);
  });
}
