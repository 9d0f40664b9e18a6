// Small filesystem helpers for bundles: atomic file writes and hard links that fall back to copies.
import { constants as fsc, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { fsyncDir } from '../store/fs-store.ts';

/** Write data to path via a fsynced temp file in the same directory and a rename. */
export async function writeFileAtomic(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await fsp.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(path));
}

/** Hard-link src to dest (same filesystem: no extra disk), else copy; an existing dest is replaced. */
export async function linkOrCopy(src: string, dest: string): Promise<void> {
  await fsp.rm(dest, { force: true });
  try {
    await fsp.link(src, dest);
  } catch {
    await fsp.copyFile(src, dest, fsc.COPYFILE_FICLONE);
  }
}

export const exists = (path: string): Promise<boolean> => fsp.stat(path).then(() => true, () => false);
