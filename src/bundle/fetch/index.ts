// One fetcher per artifact kind (the connected side).
import type { ArtifactKind, Fetcher } from '../types.ts';
import { fetchDebs } from './apt.ts';
import { fetchRpms } from './dnf.ts';
import { fetchFiles } from './files.ts';
import { fetchGoModules } from './goproxy.ts';
import { fetchCharts } from './helm.ts';
import { fetchPython } from './pypi.ts';
import { fetchImages } from './registry.ts';

export function defaultFetchers(): Record<ArtifactKind, Fetcher> {
  return { image: fetchImages, deb: fetchDebs, rpm: fetchRpms, python: fetchPython, chart: fetchCharts, gomod: fetchGoModules, file: fetchFiles };
}

export { FetchError, downloadToStore, getBytes, mapLimit, request } from './http.ts';
