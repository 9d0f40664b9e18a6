// The admin host's mirror server: one node:http(s) server, the OCI registry under /v2/ and the repo
// handlers (APT, YUM, PyPI, …) at their prefixes, all over one Store. No framework: the blob path must
// stay thin (see shared/notes/serving-perf.md). One log line per request, written when it ends.
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import { BasicAuth } from './auth.ts';
import { createRegistry, type RegistryOptions } from './registry.ts';
import { HttpError, type RepoHandler, type RequestContext } from './types.ts';
import { OciError, type OciErrorCode } from '../store/oci.ts';
import { StoreError, type Store } from '../store/types.ts';

export interface ServeOptions {
  store: Store;
  host: string;
  port: number;
  /** PEM text, or paths of PEM files */
  tls?: { cert: string; key: string };
  /** when set, writes (PUT/POST/PATCH/DELETE) need Basic auth as one of these users */
  users?: { name: string; passwordHash: string }[];
  handlers?: RepoHandler[];
  log?: Logger;
  /** how long close() lets in-flight requests finish before cutting them (default 10 s) */
  shutdownTimeoutMs?: number;
  /** the URL clients use for this server (default: from each request's Host header) */
  baseUrl?: string;
  /** registry tuning (blob/tag caches) */
  registry?: RegistryOptions;
}

export interface RunningServer {
  /** e.g. "http://127.0.0.1:5000" (the real port when `port` was 0) */
  url: string;
  close(): Promise<void>;
}

const WRITE_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);
const MAX_PATH = 4096;
const HOST_RE = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

const pem = (v: string): string => (v.includes('-----BEGIN') ? v : readFileSync(v, 'utf8'));

/**
 * Reject request targets that could mean something else once decoded: not origin-form, "//",
 * "."/".." segments (also percent-encoded), NUL, backslashes and encoded slashes.
 */
export function checkRequestPath(rawPath: string): string | undefined {
  if (!rawPath.startsWith('/')) return 'request target must be an absolute path';
  if (rawPath.length > MAX_PATH) return 'path too long';
  if (rawPath.includes('//')) return 'empty path segment';
  if (rawPath.includes('\\')) return 'backslash in path';
  const segs = rawPath.split('/');
  for (let i = 1; i < segs.length; i++) {
    let seg = segs[i] as string;
    if (seg.includes('%')) {
      try {
        seg = decodeURIComponent(seg);
      } catch {
        return 'malformed percent-encoding';
      }
      if (seg.includes('/') || seg.includes('\\')) return 'encoded path separator';
    }
    if (seg === '.' || seg === '..') return 'dot segment in path';
    if (seg.includes('\0')) return 'NUL in path';
  }
  return undefined;
}

const OCI_CODE_BY_STATUS: Record<number, OciErrorCode> = {
  400: 'NAME_INVALID',
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'NAME_UNKNOWN',
  405: 'UNSUPPORTED',
  413: 'SIZE_INVALID',
  416: 'RANGE_INVALID',
  429: 'TOOMANYREQUESTS',
};

export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const log = opts.log ?? pino({ name: 'airlock-serve' });
  const auth = new BasicAuth(opts.users ?? []);
  const registry = createRegistry(opts.store, opts.registry);
  const handlers = [...(opts.handlers ?? [])].sort((a, b) => b.prefix.length - a.prefix.length);
  const shutdownMs = opts.shutdownTimeoutMs ?? 10_000;
  const scheme = opts.tls ? 'https' : 'http';
  let fallbackBase = '';
  let inFlight = 0;
  let closing = false;

  const baseUrlOf = (req: IncomingMessage): string => {
    if (opts.baseUrl) return opts.baseUrl;
    const host = req.headers.host;
    return host && HOST_RE.test(host) ? `${scheme}://${host}` : fallbackBase;
  };

  const sendError = (req: IncomingMessage, res: ServerResponse, rawPath: string, err: unknown): void => {
    const isOci = rawPath === '/v2' || rawPath.startsWith('/v2/');
    let status = 500;
    let message = 'internal server error';
    let headers: Record<string, string> = {};
    let ociBody: { code: string; message: string; detail?: unknown }[] | undefined;
    if (err instanceof OciError) {
      status = err.status;
      message = err.message;
      ociBody = [{ code: err.code, message: err.message, ...(err.detail !== undefined ? { detail: err.detail } : {}) }, ...err.more];
    } else if (err instanceof HttpError && err.status < 500) {
      status = err.status;
      message = err.message;
      headers = err.headers;
    } else if (err instanceof StoreError && err.code !== 'io') {
      status = 400;
      message = err.message;
      if (isOci) ociBody = [{ code: err.code === 'invalid-key' ? 'NAME_INVALID' : 'DIGEST_INVALID', message }];
    } else if (err instanceof HttpError) {
      status = err.status;
    }
    if (status >= 500) {
      log.error({ err, method: req.method, path: rawPath.slice(0, 512) }, 'request failed');
      message = 'internal server error';
      ociBody = undefined;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 401 && !headers['WWW-Authenticate']) headers['WWW-Authenticate'] = 'Basic realm="airlock", charset="UTF-8"';
    let body: string;
    let type: string;
    if (isOci) {
      ociBody ??= [{ code: status >= 500 ? 'UNKNOWN' : (OCI_CODE_BY_STATUS[status] ?? 'UNSUPPORTED'), message }];
      body = JSON.stringify({ errors: ociBody });
      type = 'application/json';
    } else {
      body = `${message}\n`;
      type = 'text/plain; charset=utf-8';
    }
    const h: Record<string, string | number> = { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) };
    if (isOci) h['Docker-Distribution-API-Version'] = 'registry/2.0';
    // An unread request body would poison the keep-alive connection: close it after this answer.
    if (!req.complete) h.Connection = 'close';
    res.writeHead(status, h);
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const t0 = performance.now();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    inFlight++;
    res.once('close', () => {
      inFlight--;
      log.info({ method: req.method, path: rawPath.length > 512 ? `${rawPath.slice(0, 512)}…` : rawPath, status: res.statusCode, ms: Math.round((performance.now() - t0) * 100) / 100 }, 'request');
    });
    if (closing) res.setHeader('Connection', 'close');
    try {
      const bad = checkRequestPath(rawPath);
      if (bad) throw new HttpError(400, `bad request path: ${bad}`);
      if (rawPath === '/healthz') {
        const body = '{"status":"ok"}\n';
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      const method = req.method ?? 'GET';
      const isRegistry = rawPath === '/v2' || rawPath.startsWith('/v2/');
      let user: string | undefined;
      if (auth.enabled) {
        const isPing = isRegistry && (rawPath === '/v2' || rawPath === '/v2/');
        if (WRITE_METHODS.has(method) || isPing) {
          user = await auth.check(req);
          if (!user) throw new HttpError(401, 'authentication required');
        }
      }
      const baseUrl = baseUrlOf(req);
      const ctx: RequestContext = { store: opts.store, url: new URL(rawUrl, baseUrl), log, baseUrl };
      if (user !== undefined) ctx.user = user;
      if (isRegistry) {
        await registry.handle(req, res, ctx);
        return;
      }
      for (const h of handlers) {
        if (rawPath.startsWith(h.prefix) || `${rawPath}/` === h.prefix) {
          if (await h.handle(req, res, ctx)) return;
          break;
        }
      }
      throw new HttpError(404, 'not found');
    } catch (err) {
      sendError(req, res, rawPath, err);
    }
  };

  const server: Server = opts.tls
    ? createHttps({ cert: pem(opts.tls.cert), key: pem(opts.tls.key) }, (req, res) => void onRequest(req, res))
    : createHttp((req, res) => void onRequest(req, res));
  // Big uploads may take long: no whole-request deadline, but idle sockets are dropped.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  server.setTimeout(5 * 60_000, (socket) => socket.destroy());
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${scheme}://${hostPart}:${addr.port}`;
  fallbackBase = opts.baseUrl ?? url;
  log.info({ url }, 'serving');

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + shutdownMs;
      while (inFlight > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        server.closeIdleConnections();
      }
      server.closeAllConnections();
      await done;
      log.info({ url }, 'stopped');
    })();
    return closed;
  };
  return { url, close };
}
