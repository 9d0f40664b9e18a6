// File-system edge: read a site file, write a render tree atomically (a temp dir renamed into place,
// so a failure never leaves a half-written output).
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { errors, isAirlockError } from './errors.ts';
import { loadSite, type LoadedSite } from './load.ts';
import { formatPlan } from './plan.ts';
import type { Rendered } from './render/index.ts';

export async function readSite(path: string): Promise<LoadedSite> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw errors.read(path, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String((e as Error).message));
  }
  return loadSite(text, path);
}

const MARKER = '.airlock-render';

/** Write `<out>/<host>/files/<abs path>`, `<out>/<host>/plan.json` and `plan.txt`, plus `<out>/index.json`. */
export async function writeRendered(rendered: Rendered, out: string): Promise<string[]> {
  const target = resolve(out);
  if (existsSync(target) && !existsSync(join(target, MARKER))) {
    if ((await readdir(target)).length > 0)
      throw errors.usage(`${out} exists and was not written by airlock render; pick an empty or new directory`);
  }
  const tmp = `${target}.tmp-${process.pid}`;
  const written: string[] = [];
  try {
    await rm(tmp, { recursive: true, force: true });
    // 0700: plans and kubeadm files may hold the bootstrap token.
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    await writeFile(join(tmp, MARKER), `site ${rendered.site}\n`);
    const index = [];
    for (const h of rendered.hosts) {
      const hostDir = join(tmp, h.host);
      for (const f of h.files) {
        const p = join(hostDir, 'files', f.path);
        await mkdir(dirname(p), { recursive: true });
        await writeFile(p, f.content, { mode: parseInt(f.mode, 8) });
        written.push(join(h.host, 'files', f.path));
      }
      await writeFile(join(hostDir, 'plan.json'), `${JSON.stringify(h.plan, null, 2)}\n`);
      await writeFile(join(hostDir, 'plan.txt'), formatPlan(h.plan));
      written.push(join(h.host, 'plan.json'), join(h.host, 'plan.txt'));
      index.push({ host: h.host, os: h.plan.os, roles: h.plan.roles, steps: h.plan.steps.length, files: h.files.map((f) => ({ path: f.path, mode: f.mode, owner: f.owner })) });
    }
    await writeFile(join(tmp, 'index.json'), `${JSON.stringify({ site: rendered.site, hosts: index }, null, 2)}\n`);
    const old = `${target}.old-${process.pid}`;
    if (existsSync(target)) await rename(target, old);
    await rename(tmp, target);
    await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (isAirlockError(e)) throw e;
    throw errors.write(out, (e as Error).message);
  }
  return written;
}
