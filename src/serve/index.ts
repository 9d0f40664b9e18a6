// The mirror server: HTTP(S), auth, the OCI registry, and the contract for repo handlers.
export { serve, checkRequestPath, type ServeOptions, type RunningServer } from './server.ts';
export { HttpError, isHttpError, type RepoHandler, type RequestContext } from './types.ts';
export { hashPassword, verifyPassword, isPasswordHash, type ScryptParams } from './auth.ts';
export { createRegistry, type Registry, type RegistryOptions } from './registry.ts';
