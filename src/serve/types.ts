// The server's contract with repo handlers (src/serve/repos/*): each repo kind is mounted at a path
// prefix and gets the shared store, the parsed URL, the authenticated user (writes only) and a logger.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Store } from '../store/types.ts';

export interface RequestContext {
  store: Store;
  url: URL;
  /** authenticated user for writes, if any */
  user?: string;
  log: Logger;
  /** e.g. "https://192.168.10.10:5000" */
  baseUrl: string;
}

/** A repo kind mounted at a path prefix; returns false if it does not handle the request (→ 404).
 * Throw HttpError for 4xx. */
export interface RepoHandler {
  /** e.g. "/apt/" */
  prefix: string;
  handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean>;
}

/** An error meant for the client. Only 4xx messages reach clients; 5xx are logged, and clients get a
 * generic message. */
export class HttpError extends Error {
  readonly status: number;
  /** extra response headers (e.g. WWW-Authenticate on 401) */
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.headers = headers;
  }
}

export const isHttpError = (e: unknown): e is HttpError => e instanceof HttpError;
